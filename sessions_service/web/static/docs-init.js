// Starts Swagger UI on the published contract. An external file, so the page's CSP needs no
// inline script; validatorUrl is off so the page never calls a third-party validator.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
  });
});
