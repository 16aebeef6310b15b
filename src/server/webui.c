/* The chat page at "/": embedded files served with headers that confine the
 * page to its own scripts, styles and API (a strict CSP), so model text that
 * slipped through unescaped still could not run script. */
#include <microhttpd.h>
#include <string.h>

#include "server/server.h"

static const char csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                          "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const srv_asset *srv_webui_find(const char *path) {
    for (size_t i = 0; i < srv_webui_n_assets; i++)
        if (strcmp(path, srv_webui_assets[i].path) == 0) return &srv_webui_assets[i];
    return NULL;
}

struct MHD_Response *srv_webui_response(const srv_asset *a) {
    /* Persistent: the bytes live in the binary, nothing to copy or free. */
    struct MHD_Response *r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r) return NULL;
    const bool ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->type) == MHD_YES &&
                    /* Revalidate each load, so a new binary's page is never mixed with old files. */
                    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache") == MHD_YES &&
                    MHD_add_response_header(r, "Content-Security-Policy", csp) == MHD_YES &&
                    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff") == MHD_YES &&
                    MHD_add_response_header(r, "Referrer-Policy", "no-referrer") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}
