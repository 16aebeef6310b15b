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
                char *text = NULL;
                rz_chat_fault fault = {0};
                const rz_status s = rz_chat_render((rz_chat_template)(size % RZ_CHAT_TEMPLATE_COUNT),
                                                   r.messages, r.n_messages, 1700000000, &text, &fault);
                if ((s == RZ_OK) != (text != NULL)) abort();
                if (s == RZ_ERR_INVALID_ARG && (fault.message >= r.n_messages || !fault.field)) abort();
                rz_free(text);
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
    rz_chat_template t;
    rz_chat_template_detect((const char *)data, size, &t);
    return 0;
}
