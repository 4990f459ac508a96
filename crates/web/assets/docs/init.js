// Renders this API's own document. No validator badge: it would ask a
// server elsewhere (and the page's Content-Security-Policy forbids it).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    validatorUrl: null,
    deepLinking: true,
    tryItOutEnabled: false,
  });
});
