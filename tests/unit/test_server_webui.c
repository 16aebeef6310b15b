/* rz serve: the embedded chat page, and the headers its files are served with. */
#include <microhttpd.h>
#include <string.h>

#include "server/server.h"
#include "test_support.h"

static void test_assets_embedded(void **state) {
    (void)state;
    const char *paths[] = {"/", "/webui/app.js", "/webui/style.css"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const srv_asset *a = srv_webui_find(paths[i]);
        assert_non_null(a);
        assert_true(a->len > 100);
        assert_non_null(strstr(a->type, "charset=utf-8"));
    }
    const srv_asset *page = srv_webui_find("/");
    assert_memory_equal(page->data, "<!doctype html>", 15);
    /* The page loads only its own files: no inline script or style for the CSP to block. */
    assert_null(memmem(page->data, page->len, "<script>", 8));
    assert_null(memmem(page->data, page->len, "<style", 6));
    assert_null(memmem(page->data, page->len, "style=", 6));
    assert_null(srv_webui_find("/index.html"));
    assert_null(srv_webui_find("/webui/"));
}

static void test_response_headers(void **state) {
    (void)state;
    struct MHD_Response *r = srv_webui_response(srv_webui_find("/webui/app.js"));
    assert_non_null(r);
    assert_string_equal(MHD_get_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE),
                        "text/javascript; charset=utf-8");
    const char *csp = MHD_get_response_header(r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "default-src 'none'"));
    assert_non_null(strstr(csp, "script-src 'self'"));
    assert_non_null(strstr(csp, "frame-ancestors 'none'"));
    assert_string_equal(MHD_get_response_header(r, "X-Content-Type-Options"), "nosniff");
    assert_non_null(MHD_get_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL));
    MHD_destroy_response(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets_embedded),
        cmocka_unit_test(test_response_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
