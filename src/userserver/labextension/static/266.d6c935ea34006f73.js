"use strict";(self.rspackChunkhubtokens_panel=self.rspackChunkhubtokens_panel||[]).push([[266],{646(e,t,n){var r=n(601),o=n.n(r),a=n(314),s=(n.n(a))()(o());s.push([e.id,`.jp-hubtokens-panel {
  padding: 8px 12px;
  overflow-y: auto;
  color: var(--jp-ui-font-color1);
  background: var(--jp-layout-color1);
  font-size: var(--jp-ui-font-size1);
}

.jp-hubtokens-panel h2 {
  font-size: var(--jp-ui-font-size3);
  margin: 4px 0 8px;
}

.jp-hubtokens-panel h3 {
  font-size: var(--jp-ui-font-size2);
  margin: 14px 0 6px;
}

.jp-hubtokens-table {
  border-collapse: collapse;
  table-layout: fixed;
  width: 100%;
}

.jp-hubtokens-table th,
.jp-hubtokens-table td {
  border-bottom: 1px solid var(--jp-border-color2);
  padding: 3px 4px;
  text-align: left;
  vertical-align: top;
  overflow-wrap: anywhere;
}

.jp-hubtokens-panel h4 {
  margin: 10px 0 2px;
}

.jp-hubtokens-description {
  margin: 0 0 4px;
  color: var(--jp-ui-font-color2);
}

.jp-hubtokens-granted {
  color: var(--jp-success-color1);
}

.jp-hubtokens-not-granted {
  color: var(--jp-warn-color1);
}

.jp-hubtokens-status {
  min-height: 1.2em;
  margin-bottom: 6px;
}

.jp-hubtokens-error {
  color: var(--jp-error-color1);
}

.jp-hubtokens-scopes {
  border: none;
  margin: 6px 0;
  padding: 0;
}

.jp-hubtokens-panel select {
  margin-bottom: 4px;
}
`,""]),n.d(t,{},{A:s})},314(e){e.exports=function(e){var t=[];return t.toString=function(){return this.map(function(t){var n="",r=void 0!==t[5];return t[4]&&(n+="@supports (".concat(t[4],") {")),t[2]&&(n+="@media ".concat(t[2]," {")),r&&(n+="@layer".concat(t[5].length>0?" ".concat(t[5]):""," {")),n+=e(t),r&&(n+="}"),t[2]&&(n+="}"),t[4]&&(n+="}"),n}).join("")},t.i=function(e,n,r,o,a){"string"==typeof e&&(e=[[null,e,void 0]]);var s={};if(r)for(var i=0;i<this.length;i++){var c=this[i][0];null!=c&&(s[c]=!0)}for(var p=0;p<e.length;p++){var u=[].concat(e[p]);r&&s[u[0]]||(void 0!==a&&(void 0===u[5]||(u[1]="@layer".concat(u[5].length>0?" ".concat(u[5]):""," {").concat(u[1],"}")),u[5]=a),n&&(u[2]&&(u[1]="@media ".concat(u[2]," {").concat(u[1],"}")),u[2]=n),o&&(u[4]?(u[1]="@supports (".concat(u[4],") {").concat(u[1],"}"),u[4]=o):u[4]="".concat(o)),t.push(u))}},t}},601(e){e.exports=function(e){return e[1]}},665(e,t,n){n.r(t);var r=n(72),o=n.n(r),a=n(825),s=n.n(a),i=n(659),c=n.n(i),p=n(56),u=n.n(p),l=n(540),d=n.n(l),f=n(113),h=n.n(f),v=n(646),m={};m.styleTagTransform=h(),m.setAttributes=u(),m.insert=c().bind(null,"head"),m.domAPI=s(),m.insertStyleElement=d(),o()(v.A,m);let b=v.A&&v.A.locals?v.A.locals:void 0;n.d(t,{},{default:b})},72(e){var t=[];function n(e){for(var n=-1,r=0;r<t.length;r++)if(t[r].identifier===e){n=r;break}return n}function r(e,r){for(var o={},a=[],s=0;s<e.length;s++){var i=e[s],c=r.base?i[0]+r.base:i[0],p=o[c]||0,u="".concat(c," ").concat(p);o[c]=p+1;var l=n(u),d={css:i[1],media:i[2],sourceMap:i[3],supports:i[4],layer:i[5]};if(-1!==l)t[l].references++,t[l].updater(d);else{var f=function(e,t){var n=t.domAPI(t);return n.update(e),function(t){t?(t.css!==e.css||t.media!==e.media||t.sourceMap!==e.sourceMap||t.supports!==e.supports||t.layer!==e.layer)&&n.update(e=t):n.remove()}}(d,r);r.byIndex=s,t.splice(s,0,{identifier:u,updater:f,references:1})}a.push(u)}return a}e.exports=function(e,o){var a=r(e=e||[],o=o||{});return function(e){e=e||[];for(var s=0;s<a.length;s++){var i=n(a[s]);t[i].references--}for(var c=r(e,o),p=0;p<a.length;p++){var u=n(a[p]);0===t[u].references&&(t[u].updater(),t.splice(u,1))}a=c}}},659(e){var t={};e.exports=function(e,n){var r=function(e){if(void 0===t[e]){var n=document.querySelector(e);if(window.HTMLIFrameElement&&n instanceof window.HTMLIFrameElement)try{n=n.contentDocument.head}catch(e){n=null}t[e]=n}return t[e]}(e);if(!r)throw Error("Couldn't find a style target. This probably means that the value for the 'insert' parameter is invalid.");r.appendChild(n)}},540(e){e.exports=function(e){var t=document.createElement("style");return e.setAttributes(t,e.attributes),e.insert(t,e.options),t}},56(e,t,n){e.exports=function(e){var t=n.nc;t&&e.setAttribute("nonce",t)}},825(e){e.exports=function(e){if("u"<typeof document)return{update:function(){},remove:function(){}};var t=e.insertStyleElement(e);return{update:function(n){var r,o,a;r="",n.supports&&(r+="@supports (".concat(n.supports,") {")),n.media&&(r+="@media ".concat(n.media," {")),(o=void 0!==n.layer)&&(r+="@layer".concat(n.layer.length>0?" ".concat(n.layer):""," {")),r+=n.css,o&&(r+="}"),n.media&&(r+="}"),n.supports&&(r+="}"),(a=n.sourceMap)&&"u">typeof btoa&&(r+="\n/*# sourceMappingURL=data:application/json;base64,".concat(btoa(unescape(encodeURIComponent(JSON.stringify(a))))," */")),e.styleTagTransform(r,t,e.options)},remove:function(){var e;null===(e=t).parentNode||e.parentNode.removeChild(e)}}}},113(e){e.exports=function(e,t){if(t.styleSheet)t.styleSheet.cssText=e;else{for(;t.firstChild;)t.removeChild(t.firstChild);t.appendChild(document.createTextNode(e))}}}}]);