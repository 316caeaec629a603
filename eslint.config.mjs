// Lint for the TypeScript sources of the lab extension (js/src).
import tsParser from '@typescript-eslint/parser';
import tsPlugin from '@typescript-eslint/eslint-plugin';

export default [
  {
    files: ['js/src/**/*.ts'],
    languageOptions: { parser: tsParser, parserOptions: { project: './tsconfig.json' } },
    plugins: { '@typescript-eslint': tsPlugin },
    rules: {
      ...tsPlugin.configs.recommended.rules,
      // The route payloads have generated types (js/src/generated): an `any` needs a
      // disable comment that says why.
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'Model output is untrusted: use textContent.' },
        { property: 'outerHTML', message: 'Model output is untrusted: use textContent.' },
        { property: 'insertAdjacentHTML', message: 'Model output is untrusted.' }
      ],
      eqeqeq: 'error',
      curly: 'error'
    }
  }
];
