"use strict";(self.rspackChunkdreamer_lab=self.rspackChunkdreamer_lab||[]).push([[330],{6513(r,o,e){var t=e(5072),a=e.n(t),l=e(7825),n=e.n(l),i=e(7659),d=e.n(i),s=e(5056),c=e.n(s),p=e(540),u=e.n(p),f=e(1113),v=e.n(f),h=e(4169),b={};b.styleTagTransform=v(),b.setAttributes=c(),b.insert=d().bind(null,"head"),b.domAPI=n(),b.insertStyleElement=u(),a()(h.A,b),h.A&&h.A.locals&&h.A.locals},4169(r,o,e){var t=e(1601),a=e.n(t),l=e(6314),n=(e.n(l))()(a());n.push([r.id,`/* The lineage sidebar. Only --jp-* variables: it follows the light and dark themes. */
.dl-sidebar {
  display: flex;
  flex-direction: column;
  background: var(--jp-layout-color1);
  color: var(--jp-ui-font-color1);
  font-family: var(--jp-ui-font-family);
  font-size: var(--jp-ui-font-size1);
  min-width: 260px;
}

.dl-toolbar {
  display: flex;
  gap: 4px;
  padding: 4px;
  border-bottom: var(--jp-border-width) solid var(--jp-border-color2);
}

.dl-workspace-select {
  flex: 1;
  min-width: 0;
  background: var(--jp-input-background);
  color: var(--jp-ui-font-color1);
  border: var(--jp-border-width) solid var(--jp-border-color1);
}

.dl-button {
  min-width: 24px;
  background: var(--jp-layout-color2);
  color: var(--jp-ui-font-color1);
  border: var(--jp-border-width) solid var(--jp-border-color1);
  border-radius: 2px;
  cursor: pointer;
}

.dl-button:focus-visible,
.dl-node:focus-visible {
  outline: 2px solid var(--jp-brand-color1);
}

.dl-legend {
  display: flex;
  gap: 8px;
  padding: 2px 6px;
  font-size: var(--jp-ui-font-size0);
}

.dl-legend-item::before {
  content: '';
  display: inline-block;
  width: 8px;
  height: 8px;
  margin-right: 3px;
  border-radius: 50%;
  background: var(--dl-status-color);
}

.dl-message {
  padding: 8px;
  color: var(--jp-ui-font-color2);
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

.dl-status-fresh {
  --dl-status-color: var(--jp-success-color1);
}

.dl-status-stale {
  --dl-status-color: var(--jp-warn-color1);
}

.dl-status-running {
  --dl-status-color: var(--jp-brand-color1);
}

.dl-status-failed {
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
  fill: var(--jp-ui-font-color2);
  font-size: 10px;
}

.dl-progress-bg {
  fill: var(--jp-layout-color3);
}

.dl-progress {
  fill: var(--jp-brand-color1);
}

.dl-edge {
  fill: none;
  stroke: var(--jp-ui-font-color3);
  stroke-width: 1.5;
}

.dl-arrow {
  fill: var(--jp-ui-font-color3);
}

.dl-details {
  flex: 1 1 45%;
  overflow: auto;
  padding: 6px 8px;
  border-top: var(--jp-border-width) solid var(--jp-border-color2);
}

.dl-details h3,
.dl-details h4 {
  margin: 4px 0;
  color: var(--jp-ui-font-color0);
  overflow-wrap: anywhere;
}

.dl-details-status {
  color: var(--dl-status-color);
}

.dl-stale-reason {
  color: var(--jp-warn-color1);
}

.dl-error {
  color: var(--jp-error-color1);
  white-space: pre-wrap;
}

.dl-facts {
  display: grid;
  grid-template-columns: auto 1fr;
  gap: 2px 8px;
  margin: 4px 0;
}

.dl-facts dd {
  margin: 0;
  font-family: var(--jp-code-font-family);
  overflow-wrap: anywhere;
}

.dl-actions {
  display: flex;
  gap: 4px;
}

.dl-cell-note {
  color: var(--jp-ui-font-color2);
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
}

.dl-card-text {
  white-space: pre-wrap;
  font-family: var(--jp-code-font-family);
  color: var(--jp-ui-font-color1);
}
`,""]),e.d(o,{},{A:n})},6314(r){r.exports=function(r){var o=[];return o.toString=function(){return this.map(function(o){var e="",t=void 0!==o[5];return o[4]&&(e+="@supports (".concat(o[4],") {")),o[2]&&(e+="@media ".concat(o[2]," {")),t&&(e+="@layer".concat(o[5].length>0?" ".concat(o[5]):""," {")),e+=r(o),t&&(e+="}"),o[2]&&(e+="}"),o[4]&&(e+="}"),e}).join("")},o.i=function(r,e,t,a,l){"string"==typeof r&&(r=[[null,r,void 0]]);var n={};if(t)for(var i=0;i<this.length;i++){var d=this[i][0];null!=d&&(n[d]=!0)}for(var s=0;s<r.length;s++){var c=[].concat(r[s]);t&&n[c[0]]||(void 0!==l&&(void 0===c[5]||(c[1]="@layer".concat(c[5].length>0?" ".concat(c[5]):""," {").concat(c[1],"}")),c[5]=l),e&&(c[2]&&(c[1]="@media ".concat(c[2]," {").concat(c[1],"}")),c[2]=e),a&&(c[4]?(c[1]="@supports (".concat(c[4],") {").concat(c[1],"}"),c[4]=a):c[4]="".concat(a)),o.push(c))}},o}},1601(r){r.exports=function(r){return r[1]}},5072(r){var o=[];function e(r){for(var e=-1,t=0;t<o.length;t++)if(o[t].identifier===r){e=t;break}return e}function t(r,t){for(var a={},l=[],n=0;n<r.length;n++){var i=r[n],d=t.base?i[0]+t.base:i[0],s=a[d]||0,c="".concat(d," ").concat(s);a[d]=s+1;var p=e(c),u={css:i[1],media:i[2],sourceMap:i[3],supports:i[4],layer:i[5]};if(-1!==p)o[p].references++,o[p].updater(u);else{var f=function(r,o){var e=o.domAPI(o);return e.update(r),function(o){o?(o.css!==r.css||o.media!==r.media||o.sourceMap!==r.sourceMap||o.supports!==r.supports||o.layer!==r.layer)&&e.update(r=o):e.remove()}}(u,t);t.byIndex=n,o.splice(n,0,{identifier:c,updater:f,references:1})}l.push(c)}return l}r.exports=function(r,a){var l=t(r=r||[],a=a||{});return function(r){r=r||[];for(var n=0;n<l.length;n++){var i=e(l[n]);o[i].references--}for(var d=t(r,a),s=0;s<l.length;s++){var c=e(l[s]);0===o[c].references&&(o[c].updater(),o.splice(c,1))}l=d}}},7659(r){var o={};r.exports=function(r,e){var t=function(r){if(void 0===o[r]){var e=document.querySelector(r);if(window.HTMLIFrameElement&&e instanceof window.HTMLIFrameElement)try{e=e.contentDocument.head}catch(r){e=null}o[r]=e}return o[r]}(r);if(!t)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");t.appendChild(e)}},540(r){r.exports=function(r){var o=document.createElement("style");return r.setAttributes(o,r.attributes),r.insert(o,r.options),o}},5056(r,o,e){r.exports=function(r){var o=e.nc;o&&r.setAttribute("nonce",o)}},7825(r){r.exports=function(r){if("u"<typeof document)return{update:function(){},remove:function(){}};var o=r.insertStyleElement(r);return{update:function(e){var t,a,l;t="",e.supports&&(t+="@supports (".concat(e.supports,") {")),e.media&&(t+="@media ".concat(e.media," {")),(a=void 0!==e.layer)&&(t+="@layer".concat(e.layer.length>0?" ".concat(e.layer):""," {")),t+=e.css,a&&(t+="}"),e.media&&(t+="}"),e.supports&&(t+="}"),(l=e.sourceMap)&&"u">typeof btoa&&(t+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(l))))," */")),r.styleTagTransform(t,o,r.options)},remove:function(){var r;null===(r=o).parentNode||r.parentNode.removeChild(r)}}}},1113(r){r.exports=function(r,o){if(o.styleSheet)o.styleSheet.cssText=r;else{for(;o.firstChild;)o.removeChild(o.firstChild);o.appendChild(document.createTextNode(r))}}}}]);