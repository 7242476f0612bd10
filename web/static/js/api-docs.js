// The API docs page: swagger-ui from the project's own package files (same origin), started from this
// file rather than an inline script, so the page obeys the Content-Security-Policy.
window.addEventListener("DOMContentLoaded", () => {
  window.ui = window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    validatorUrl: null,  // no badge fetched from another origin
  });
});
