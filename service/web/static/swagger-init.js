// Starts Swagger UI on /openapi.json (a file, not an inline script: the page's CSP allows only our own scripts).
"use strict";
window.addEventListener("load", function () {
  var target = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: target.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,  // no badge from validator.swagger.io: nothing leaves this host
  });
});
