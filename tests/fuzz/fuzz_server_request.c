/* libFuzzer target: rz serve's request parsing and validation (both
 * endpoints), chat template rendering of what parses, and error objects. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const srv_limits limits = {.max_tokens = 4096, .max_n = 8};
    for (int k = 0; k < 2; k++) {
        srv_request r;
        srv_error err;
        if (srv_request_parse(k ? SRV_COMPLETION : SRV_CHAT, (const char *)data, size, &limits, &r, &err)) {
            if (r.kind == SRV_CHAT) {
                /* a fixed clock keeps runs reproducible (harmony prints the date) */
                srv_error render_err = {0};
                char *text = srv_template_render((srv_template)(size % SRV_TMPL_COUNT), r.messages,
                                                 r.n_messages, (time_t)1700000000, &render_err);
                if (!text && render_err.type && (render_err.status < 400 || render_err.status > 599)) abort();
                free(text);
            }
            srv_request_free(&r);
        } else {
            if (err.status < 400 || err.status > 599 || !err.type) abort();
            char *json = srv_error_json(&err);
            cJSON *back = json ? cJSON_Parse(json) : NULL;
            if (json && !back) abort(); /* error objects must be valid JSON */
            cJSON_Delete(back);
            free(json);
        }
    }
    srv_template t;
    srv_template_detect((const char *)data, size, &t);
    return 0;
}
