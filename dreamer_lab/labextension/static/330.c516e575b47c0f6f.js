"use strict";(self.rspackChunkdreamer_lab=self.rspackChunkdreamer_lab||[]).push([[330],{6513(r,e,o){var a=o(5072),d=o.n(a),t=o(7825),l=o.n(t),i=o(7659),n=o.n(i),s=o(5056),p=o.n(s),c=o(540),u=o.n(c),f=o(1113),b=o.n(f),v=o(4169),h={};h.styleTagTransform=b(),h.setAttributes=p(),h.insert=n().bind(null,"head"),h.domAPI=l(),h.insertStyleElement=u(),d()(v.A,h),v.A&&v.A.locals&&v.A.locals},4169(r,e,o){var a=o(1601),d=o.n(a),t=o(6314),l=(o.n(t))()(d());l.push([r.id,`/*
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

.dl-sidebar .dl-toolbar::part(positioning-region) {
  flex-wrap: nowrap;
  align-items: center;
}

.dl-sidebar .dl-toolbar .jp-Toolbar-item {
  flex: 0 0 auto;
}

.dl-sidebar .dl-toolbar .dl-workspace {
  flex: 1 1 0;
  min-width: 60px;
  overflow: hidden;
  margin-right: 4px;
}

.dl-sidebar .dl-toolbar .dl-workspace .jp-HTMLSelect {
  width: 100%;
  min-width: 0;
}

.dl-sidebar .dl-toolbar .dl-workspace .jp-HTMLSelect select {
  width: 100%;
  min-width: 0;
  text-overflow: ellipsis;
}

.dl-sidebar .dl-body {
  flex: 1 1 auto;
  min-height: 0;
  display: flex;
  flex-direction: column;
}

.dl-sidebar .dl-button:focus-visible,
.dl-sidebar .dl-node:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
  outline-offset: 1px;
}

.dl-sidebar .dl-legend {
  display: flex;
  flex-wrap: wrap;
  gap: 2px 10px;
  padding: 4px 8px;
  font-size: var(--jp-ui-font-size0);
  color: var(--jp-ui-font-color1);
}

.dl-sidebar .dl-legend-item {
  white-space: nowrap;
}

.dl-sidebar .dl-legend-item::before,
.dl-sidebar .dl-badge::before {
  content: '';
  display: inline-block;
  width: 8px;
  height: 8px;
  margin-right: 4px;
  border-radius: 50%;
  background: var(--dl-status-color);
}

.dl-sidebar .dl-message {
  padding: 8px;
  color: var(--jp-ui-font-color1);
}

/* The graph area is as tall as the fitted graph (set by the view; at most 60% of the
   panel); the details pane takes the rest. */
.dl-sidebar .dl-graph {
  flex: 0 0 auto;
  height: 45%;
  min-height: 96px;
  overflow: hidden;
  cursor: grab;
  touch-action: none;
  position: relative;
}

/* "Laying out N steps…": over the graph's top-right corner while a new layout is computed in
   the background (the previous graph stays usable below it). */
.dl-sidebar .dl-layout-pending {
  position: absolute;
  top: 4px;
  right: 4px;
  display: flex;
  align-items: center;
  gap: 6px;
  padding: 2px 8px;
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: var(--jp-border-radius);
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-size: var(--jp-ui-font-size0);
  box-shadow: var(--jp-elevation-z1);
  pointer-events: none;
}

.dl-sidebar .dl-layout-pending[hidden] {
  display: none;
}

.dl-sidebar .dl-layout-pending::before {
  content: '';
  flex: 0 0 auto;
  width: 8px;
  height: 8px;
  border: 2px solid var(--jp-brand-color1);
  border-right-color: transparent;
  border-radius: 50%;
  animation: dl-spin 0.9s linear infinite;
}

@keyframes dl-spin {
  to {
    transform: rotate(360deg);
  }
}

@media (prefers-reduced-motion: reduce) {
  .dl-sidebar .dl-layout-pending::before {
    animation: none;
  }
}

.dl-sidebar .dl-svg {
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

.dl-sidebar .dl-node {
  cursor: pointer;
}

.dl-sidebar .dl-node-box {
  fill: var(--jp-layout-color2);
  stroke: var(--dl-status-color);
  stroke-width: 2;
}

.dl-sidebar .dl-node.dl-status-stale .dl-node-box {
  stroke-dasharray: 6 3;
}

.dl-sidebar .dl-node.dl-selected .dl-node-box {
  stroke-width: 4;
  fill: var(--jp-layout-color3);
}

.dl-sidebar .dl-node-name {
  fill: var(--jp-ui-font-color0);
  font-weight: 600;
  font-size: 12px;
}

.dl-sidebar .dl-node-meta {
  fill: var(--jp-ui-font-color1);
  font-size: 11px;
}

.dl-sidebar .dl-progress-bg {
  fill: var(--jp-layout-color3);
}

.dl-sidebar .dl-progress {
  fill: var(--jp-brand-color1);
}

.dl-sidebar .dl-edge {
  fill: none;
  stroke: var(--jp-ui-font-color2);
  stroke-width: 1.5;
}

.dl-sidebar .dl-arrow {
  fill: var(--jp-ui-font-color2);
}

.dl-sidebar .dl-details {
  flex: 1 1 0;
  min-height: 0;
  overflow: auto;
  padding: 6px 8px;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
  container-type: inline-size;
}

.dl-sidebar .dl-details h3,
.dl-sidebar .dl-details h4 {
  margin: 6px 0 4px;
  color: var(--jp-ui-font-color0);
  overflow-wrap: anywhere;
}

.dl-sidebar .dl-details h3 {
  font-size: var(--jp-ui-font-size2);
}

.dl-sidebar .dl-details h4 {
  font-size: var(--jp-ui-font-size1);
  text-transform: uppercase;
  letter-spacing: 0.04em;
}

.dl-sidebar .dl-hint {
  margin: 4px 0;
  color: var(--jp-ui-font-color1);
}

.dl-sidebar .dl-details-status {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px;
}

.dl-sidebar .dl-kind {
  color: var(--jp-ui-font-color1);
}

.dl-sidebar .dl-badge {
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

.dl-sidebar .dl-stale-reason {
  color: var(--jp-ui-font-color1);
  border-left: 3px solid var(--jp-warn-color1);
  padding-left: 6px;
}

.dl-sidebar .dl-error {
  color: var(--jp-ui-font-color0);
  background: var(--jp-layout-color2);
  border-left: 3px solid var(--jp-error-color1);
  padding: 4px 6px;
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

.dl-sidebar .dl-facts {
  display: grid;
  grid-template-columns: auto 1fr;
  gap: 2px 8px;
  margin: 4px 0;
}

.dl-sidebar .dl-facts dt {
  color: var(--jp-ui-font-color1);
}

.dl-sidebar .dl-facts dd {
  margin: 0;
  font-family: var(--jp-code-font-family);
  overflow-wrap: anywhere;
}

.dl-sidebar .dl-actions {
  display: flex;
  flex-wrap: wrap;
  gap: 4px;
  margin: 4px 0;
}

.dl-sidebar .dl-actions .dl-button {
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

.dl-sidebar .dl-cell-note {
  color: var(--jp-ui-font-color1);
}

/* Sample rows: a table that scrolls sideways when wide, one block per row when narrow. */
.dl-sidebar .dl-table-wrap {
  overflow-x: auto;
  max-width: 100%;
}

.dl-sidebar .dl-table {
  border-collapse: collapse;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
}

.dl-sidebar .dl-table th,
.dl-sidebar .dl-table td {
  border: var(--jp-border-width) solid var(--jp-border-color2);
  padding: 2px 4px;
  text-align: left;
  vertical-align: top;
  white-space: pre-wrap;
  min-width: 8em;
  max-width: 28em;
  overflow-wrap: anywhere;
}

.dl-sidebar .dl-table th {
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color0);
}

.dl-sidebar .dl-stacked {
  display: none;
}

.dl-sidebar .dl-row {
  display: grid;
  grid-template-columns: minmax(3em, max-content) 1fr;
  gap: 2px 8px;
  margin: 0 0 6px;
  padding: 4px 6px;
  border: var(--jp-border-width) solid var(--jp-border-color2);
  border-radius: 2px;
}

.dl-sidebar .dl-row dt {
  color: var(--jp-ui-font-color1);
  font-weight: 600;
  overflow-wrap: anywhere;
}

.dl-sidebar .dl-row dd {
  margin: 0;
  font-family: var(--jp-code-font-family);
  font-size: var(--jp-code-font-size);
  white-space: pre-wrap;
  overflow-wrap: anywhere;
}

@container (max-width: 420px) {
  .dl-sidebar .dl-table-wrap {
    display: none;
  }

  .dl-sidebar .dl-stacked {
    display: block;
  }
}

.dl-sidebar .dl-card .dl-card-markdown {
  padding: 0;
  font-size: var(--jp-ui-font-size1);
  overflow-wrap: anywhere;
}

.dl-sidebar .dl-card .dl-card-markdown h3 {
  font-size: var(--jp-ui-font-size2);
  margin-top: 4px;
}

.dl-sidebar .dl-card .dl-card-markdown p,
.dl-sidebar .dl-card .dl-card-markdown ul {
  margin: 2px 0 6px;
}

.dl-sidebar .dl-card .dl-card-markdown pre {
  white-space: pre-wrap;
}

.dl-sidebar .dl-card-text {
  white-space: pre-wrap;
  font-family: var(--jp-code-font-family);
  color: var(--jp-ui-font-color1);
}
`,""]),o.d(e,{},{A:l})},6314(r){r.exports=function(r){var e=[];return e.toString=function(){return this.map(function(e){var o="",a=void 0!==e[5];return e[4]&&(o+="@supports (".concat(e[4],") {")),e[2]&&(o+="@media ".concat(e[2]," {")),a&&(o+="@layer".concat(e[5].length>0?" ".concat(e[5]):""," {")),o+=r(e),a&&(o+="}"),e[2]&&(o+="}"),e[4]&&(o+="}"),o}).join("")},e.i=function(r,o,a,d,t){"string"==typeof r&&(r=[[null,r,void 0]]);var l={};if(a)for(var i=0;i<this.length;i++){var n=this[i][0];null!=n&&(l[n]=!0)}for(var s=0;s<r.length;s++){var p=[].concat(r[s]);a&&l[p[0]]||(void 0!==t&&(void 0===p[5]||(p[1]="@layer".concat(p[5].length>0?" ".concat(p[5]):""," {").concat(p[1],"}")),p[5]=t),o&&(p[2]&&(p[1]="@media ".concat(p[2]," {").concat(p[1],"}")),p[2]=o),d&&(p[4]?(p[1]="@supports (".concat(p[4],") {").concat(p[1],"}"),p[4]=d):p[4]="".concat(d)),e.push(p))}},e}},1601(r){r.exports=function(r){return r[1]}},5072(r){var e=[];function o(r){for(var o=-1,a=0;a<e.length;a++)if(e[a].identifier===r){o=a;break}return o}function a(r,a){for(var d={},t=[],l=0;l<r.length;l++){var i=r[l],n=a.base?i[0]+a.base:i[0],s=d[n]||0,p="".concat(n," ").concat(s);d[n]=s+1;var c=o(p),u={css:i[1],media:i[2],sourceMap:i[3],supports:i[4],layer:i[5]};if(-1!==c)e[c].references++,e[c].updater(u);else{var f=function(r,e){var o=e.domAPI(e);return o.update(r),function(e){e?(e.css!==r.css||e.media!==r.media||e.sourceMap!==r.sourceMap||e.supports!==r.supports||e.layer!==r.layer)&&o.update(r=e):o.remove()}}(u,a);a.byIndex=l,e.splice(l,0,{identifier:p,updater:f,references:1})}t.push(p)}return t}r.exports=function(r,d){var t=a(r=r||[],d=d||{});return function(r){r=r||[];for(var l=0;l<t.length;l++){var i=o(t[l]);e[i].references--}for(var n=a(r,d),s=0;s<t.length;s++){var p=o(t[s]);0===e[p].references&&(e[p].updater(),e.splice(p,1))}t=n}}},7659(r){var e={};r.exports=function(r,o){var a=function(r){if(void 0===e[r]){var o=document.querySelector(r);if(window.HTMLIFrameElement&&o instanceof window.HTMLIFrameElement)try{o=o.contentDocument.head}catch(r){o=null}e[r]=o}return e[r]}(r);if(!a)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");a.appendChild(o)}},540(r){r.exports=function(r){var e=document.createElement("style");return r.setAttributes(e,r.attributes),r.insert(e,r.options),e}},5056(r,e,o){r.exports=function(r){var e=o.nc;e&&r.setAttribute("nonce",e)}},7825(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var e=r.insertStyleElement(r);return{update:function(o){var a,d,t;a="",o.supports&&(a+="@supports (".concat(o.supports,") {")),o.media&&(a+="@media ".concat(o.media," {")),(d=void 0!==o.layer)&&(a+="@layer".concat(o.layer.length>0?" ".concat(o.layer):""," {")),a+=o.css,d&&(a+="}"),o.media&&(a+="}"),o.supports&&(a+="}"),(t=o.sourceMap)&&"u">typeof btoa&&(a+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(t))))," */")),r.styleTagTransform(a,e,r.options)},remove:function(){var r;null===(r=e).parentNode||r.parentNode.removeChild(r)}}}},1113(r){r.exports=function(r,e){if(e.styleSheet)e.styleSheet.cssText=r;else{for(;e.firstChild;)e.removeChild(e.firstChild);e.appendChild(document.createTextNode(r))}}}}]);