"use strict";(self.rspackChunkdreamer_lab=self.rspackChunkdreamer_lab||[]).push([[330],{6513(r,o,e){var a=e(5072),t=e.n(a),l=e(7825),n=e.n(l),d=e(7659),i=e.n(d),s=e(5056),p=e.n(s),c=e(540),u=e.n(c),f=e(1113),v=e.n(f),h=e(4169),w={};w.styleTagTransform=v(),w.setAttributes=p(),w.insert=i().bind(null,"head"),w.domAPI=n(),w.insertStyleElement=u(),t()(h.A,w),h.A&&h.A.locals&&h.A.locals},4169(r,o,e){var a=e(1601),t=e.n(a),l=e(6314),n=(e.n(l))()(t());n.push([r.id,`/*
 * The lineage sidebar. Only --jp-* variables: it follows the light and dark themes.
 * Text is always a --jp-ui-font-color* on a --jp-layout-color*, (contrast from the theme);
 * status colours only mark borders, dots and bars, never text.
 */
.dl-sidebar {
  display: flex;
  flex-direction: column;
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
  min-width: 200px;
}

.dl-sidebar > .dl-toolbar {
  display: flex;
  flex-direction: row;
  flex: 0 0 auto;
  flex-wrap: nowrap;
  align-items: center;
  gap: 2px;
  padding: 2px 4px;
  border-bottom: var(--jp-border-width) solid var(--jp-toolbar-border-color);
  box-shadow: var(--jp-toolbar-box-shadow);
  z-index: 1;
}

.dl-toolbar::part(positioning-region) {
  flex-wrap: nowrap;
  align-items: center;
}

.dl-toolbar .jp-Toolbar-item {
  flex: 0 0 auto;
}

.dl-toolbar .dl-workspace {
  flex: 1 1 0;
  min-width: 60px;
  overflow: hidden;
  margin-right: 4px;
}

.dl-toolbar .dl-workspace .jp-HTMLSelect {
  width: 100%;
  min-width: 0;
}

.dl-toolbar .dl-workspace .jp-HTMLSelect select {
  width: 100%;
  min-width: 0;
  text-overflow: ellipsis;
}

.dl-body {
  flex: 1 1 auto;
  min-height: 0;
  display: flex;
  flex-direction: column;
}

.dl-button:focus-visible,
.dl-node:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: 1px;
}

.dl-legend {
  display: flex;
  flex-wrap: wrap;
  gap: 2px 10px;
  padding: 4px 8px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.dl-legend-item {
  white-space: nowrap;
}

.dl-legend-item::before,
.dl-badge::before {
  content: '';
  display: inline-block;
  width: 8px;
  height: 8px;
  margin-right: 4px;
  border-radius: 50%;
  background: var(--dl-status-color);
}

.dl-message {
  padding: 8px;
  color: var(--jp-ui-font-color1);
}

.dl-graph {
  flex: 1 1 55%;
  min-height: 160px;
  overflow: hidden;
  cursor: grab;
  touch-action: none;
}

.dl-svg {
  width: 100%;
  height: 100%;
  display: block;
}

/* One colour per status word the server sends; unknown words get a neutral one. */
.dl-sidebar [class*='dl-status-'] {
  --dl-status-color: var(--jp-border-color1);
}

.dl-sidebar .dl-status-fresh,
.dl-sidebar .dl-status-computed {
  --dl-status-color: var(--jp-success-color1);
}

.dl-sidebar .dl-status-loaded-from-cache {
  --dl-status-color: var(--jp-info-color1);
}

.dl-sidebar .dl-status-stale {
  --dl-status-color: var(--jp-warn-color1);
}

.dl-sidebar .dl-status-running {
  --dl-status-color: var(--jp-brand-color1);
}

.dl-sidebar .dl-status-interrupted {
  --dl-status-color: var(--jp-warn-color0);
}

.dl-sidebar .dl-status-failed {
  --dl-status-color: var(--jp-error-color1);
}

.dl-node {
  cursor: pointer;
}

.dl-node-box {
  fill: var(--jp-layout-color2);
  stroke: var(--dl-status-color);
  stroke-width: 2;
}

.dl-node.dl-status-stale .dl-node-box {
  stroke-dasharray: 6 3;
}

.dl-node.dl-selected .dl-node-box {
  stroke-width: 4;
  fill: var(--jp-layout-color3);
}

.dl-node-name {
  fill: var(--jp-ui-font-color0);
  font-weight: 600;
  font-size: 12px;
}

.dl-node-meta {
  fill: var(--jp-ui-font-color1);
  font-size: 11px;
}

.dl-progress-bg {
  fill: var(--jp-layout-color3);
}

.dl-progress {
  fill: var(--jp-brand-color1);
}

.dl-edge {
  fill: none;
  stroke: var(--jp-ui-font-color2);
  stroke-width: 1.5;
}

.dl-arrow {
  fill: var(--jp-ui-font-color2);
}

.dl-details {
  flex: 1 1 45%;
  min-height: 0;
  overflow: auto;
  padding: 6px 8px;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
  container-type: inline-size;
}

.dl-details h3,
.dl-details h4 {
  margin: 6px 0 4px;
  color: var(--jp-ui-font-color0);
  overflow-wrap: anywhere;
}

.dl-details h3 {
  font-size: var(--jp-ui-font-size2);
}

.dl-details h4 {
  font-size: var(--jp-ui-font-size1);
  text-transform: uppercase;
  letter-spacing: 0.04em;
}

.dl-hint {
  margin: 4px 0;
  color: var(--jp-ui-font-color1);
}

.dl-details-status {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px;
}

.dl-kind {
  color: var(--jp-ui-font-color1);
}

.dl-badge {
  display: inline-flex;
  align-items: center;
  padding: 0 6px;
  border: var(--jp-border-width) solid var(--dl-status-color);
  border-radius: 8px;
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color0);
  font-size: var(--jp-ui-font-size0);
  line-height: 16px;
  white-space: nowrap;
}

.dl-stale-reason {
  color: var(--jp-ui-font-color1);
  border-left: 3px solid var(--jp-warn-color1);
  padding-left: 6px;
}

.dl-error {
  color: var(--jp-ui-font-color0);
  background: var(--jp-layout-color2);
  border-left: 3px solid var(--jp-error-color1);
  padding: 4px 6px;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

.dl-facts {
  display: grid;
  grid-template-columns: auto 1fr;
  gap: 2px 8px;
  margin: 4px 0;
}

.dl-facts dt {
  color: var(--jp-ui-font-color1);
}

.dl-facts dd {
  margin: 0;
  font-family: var(--jp-code-font-family);
  overflow-wrap: anywhere;
}

.dl-actions {
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  margin: 4px 0;
}

.dl-actions .dl-button {
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color0);
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: var(--jp-border-radius);
  font-size: var(--jp-ui-font-size1);
  cursor: pointer;
  height: 24px;
  line-height: 22px;
  padding: 0 8px;
  width: auto;
  white-space: nowrap;
}

.dl-cell-note {
  color: var(--jp-ui-font-color1);
}

/* Sample rows: a table that scrolls sideways when wide, one block per row when narrow. */
.dl-table-wrap {
  overflow-x: auto;
  max-width: 100%;
}

.dl-table {
  border-collapse: collapse;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.dl-table th,
.dl-table td {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  padding: 2px 4px;
  text-align: left;
  vertical-align: top;
  white-space: pre-wrap;
  min-width: 8em;
  max-width: 28em;
  overflow-wrap: anywhere;
}

.dl-table th {
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color0);
}

.dl-stacked {
  display: none;
}

.dl-row {
  display: grid;
  grid-template-columns: minmax(3em, max-content) 1fr;
  gap: 2px 8px;
  margin: 0 0 6px;
  padding: 4px 6px;
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 2px;
}

.dl-row dt {
  color: var(--jp-ui-font-color1);
  font-weight: 600;
  overflow-wrap: anywhere;
}

.dl-row dd {
  margin: 0;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

@container (max-width: 420px) {
  .dl-table-wrap {
    display: none;
  }

  .dl-stacked {
    display: block;
  }
}

.dl-card .dl-card-markdown {
  padding: 0;
  font-size: var(--jp-ui-font-size1);
  overflow-wrap: anywhere;
}

.dl-card .dl-card-markdown h3 {
  font-size: var(--jp-ui-font-size2);
  margin-top: 4px;
}

.dl-card .dl-card-markdown p,
.dl-card .dl-card-markdown ul {
  margin: 2px 0 6px;
}

.dl-card .dl-card-markdown pre {
  white-space: pre-wrap;
}

.dl-card-text {
  white-space: pre-wrap;
  font-family: var(--jp-code-font-family);
  color: var(--jp-ui-font-color1);
}
`,""]),e.d(o,{},{A:n})},6314(r){r.exports=function(r){var o=[];return o.toString=function(){return this.map(function(o){var e="",a=void 0!==o[5];return o[4]&&(e+="@supports (".concat(o[4],") {")),o[2]&&(e+="@media ".concat(o[2]," {")),a&&(e+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),e+=r(o),a&&(e+="}"),o[2]&&(e+="}"),o[4]&&(e+="}"),e}).join("")},o.i=function(r,e,a,t,l){"string"==typeof r&&(r=[[null,r,void 0]]);var n={};if(a)for(var d=0;d<this.length;d++){var i=this[d][0];null!=i&&(n[i]=!0)}for(var s=0;s<r.length;s++){var p=[].concat(r[s]);a&&n[p[0]]||(void 0!==l&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=l),e&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=e),t&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=t):p[4]="".concat(t)),o.push(p))}},o}},1601(r){r.exports=function(r){return r[1]}},5072(r){var o=[];function e(r){for(var e=-1,a=0;a<o.length;a++)if(o[a].identifier===r){e=a;break}return e}function a(r,a){for(var t={},l=[],n=0;n<r.length;n++){var d=r[n],i=a.base?d[0]+a.base:d[0],s=t[i]||0,p="".concat(i," ").concat(s);t[i]=s+1;var c=e(p),u={css:d[1],media:d[2],sourceMap:d[3],supports:d[4],layer:d[5]};if(-1!==c)o[c].references++,o[c].updater(u);else{var f=function(r,o){var e=o.domAPI(o);return e.update(r),function(o){o?(o.css!==r.css||o.media!==r.media||o.sourceMap!==r.sourceMap||o.supports!==r.supports||o.layer!==r.layer)&&e.update(r=o):e.remove()}}(u,a);a.byIndex=n,o.splice(n,0,{identifier:p,updater:f,references:1})}l.push(p)}return l}r.exports=function(r,t){var l=a(r=r||[],t=t||{});return function(r){r=r||[];for(var n=0;n<l.length;n++){var d=e(l[n]);o[d].references--}for(var i=a(r,t),s=0;s<l.length;s++){var p=e(l[s]);0===o[p].references&&(o[p].updater(),o.splice(p,1))}l=i}}},7659(r){var o={};r.exports=function(r,e){var a=function(r){if(void 0===o[r]){var e=document.querySelector(r);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(r){e=null}o[r]=e}return o[r]}(r);if(!a)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");a.appendChild(e)}},540(r){r.exports=function(r){var o=document.createElement("style");return r.setAttributes(o,r.attributes),r.insert(o,r.options),o}},5056(r,o,e){r.exports=function(r){var o=e.nc;o&&r.setAttribute("nonce",o)}},7825(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=r.insertStyleElement(r);return{update:function(e){var a,t,l;a="",e.supports&&(a+="@supports (".concat(e.supports,") {")),e.media&&(a+="@media ".concat(e.media," {")),(t=void 0!==e.layer)&&(a+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),a+=e.css,t&&(a+="}"),e.media&&(a+="}"),e.supports&&(a+="}"),(l=e.sourceMap)&&"u">typeof btoa&&(a+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(l))))," */")),r.styleTagTransform(a,o,r.options)},remove:function(){var r;null===(r=o).parentNode||r.parentNode.removeChild(r)}}}},1113(r){r.exports=function(r,o){if(o.styleSheet)o.styleSheet.cssText=r;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(r))}}}}]);