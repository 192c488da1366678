// The OpenAPI 3 document of the HTTP API (GET /openapi.json).
#ifndef PROJD_ENGINE_OPENAPI_H_
#define PROJD_ENGINE_OPENAPI_H_

namespace projd {

const char* OpenApiDocument();
// The operator dashboard (GET /), from engine/dashboard.html.
const char* DashboardHtml();

}  // namespace projd

#endif  // PROJD_ENGINE_OPENAPI_H_
