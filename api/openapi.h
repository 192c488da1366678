// The OpenAPI 3 document of the HTTP API (GET /openapi.json).
#ifndef PROJD_ENGINE_OPENAPI_H_
#define PROJD_ENGINE_OPENAPI_H_

namespace projd {

const char* OpenApiDocument();
// The operator dashboard (GET /): one self-contained HTML page bundled at build time from
// api/dashboard/ (generated dashboard_html.cc), or nullptr when projd was built without it
// (node or npm missing, or -DPROJD_DASHBOARD=OFF).
const char* DashboardHtml();

}  // namespace projd

#endif  // PROJD_ENGINE_OPENAPI_H_
