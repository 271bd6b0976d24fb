#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <gwlb/common.h>
static ngx_int_t init(ngx_conf_t *cf) { (void) cf; return gwlb_version_number() > 0 ? NGX_OK : NGX_ERROR; }
static ngx_http_module_t ctx = { NULL, init, NULL, NULL, NULL, NULL, NULL, NULL };
ngx_module_t ngx_http_gwlb_module = { NGX_MODULE_V1, &ctx, NULL, NGX_HTTP_MODULE, NULL,NULL,NULL,NULL,NULL,NULL,NULL, NGX_MODULE_V1_PADDING };
