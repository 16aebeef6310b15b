/* rz serve: SSE framing, Prometheus metrics text, and the stop filter. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "test_support.h"

static void test_sse_frame(void **state) {
    (void)state;
    cJSON *obj = cJSON_CreateObject();
    cJSON_AddStringToObject(obj, "text", "a\nb");
    char *frame = srv_sse_frame(obj);
    assert_non_null(frame);
    /* Newlines inside the JSON are escaped, so one event is one data line. */
    assert_string_equal(frame, "data: {\"text\":\"a\\nb\"}\n\n");
    free(frame);
    frame = srv_sse_frame(NULL);
    assert_string_equal(frame, "data: [DONE]\n\n");
    free(frame);
}

static void test_metrics_text(void **state) {
    (void)state;
    srv_metrics m;
    srv_metrics_init(&m);
    srv_metrics_request(&m, srv_route_index("/v1/completions"), 200);
    srv_metrics_request(&m, srv_route_index("/v1/completions"), 200);
    srv_metrics_request(&m, srv_route_index("/nope"), 404);
    srv_metrics_request(&m, srv_route_index("/health"), 418);
    srv_metrics_tokens(&m, 10, 21);
    srv_metrics_generation(&m, 10, 21, 0.5, 1.0, 0.75);
    srv_metrics_latency(&m, 3.0);
    const srv_gauges g = {
        .queue_depth = 2, .slots_active = 1, .slots_total = 4, .kv_tokens = 50, .kv_capacity = 200};
    char *text = srv_metrics_format(&m, &g);
    assert_non_null(text);
    assert_non_null(strstr(text, "rz_requests_total{route=\"/v1/completions\",code=\"200\"} 2\n"));
    assert_non_null(strstr(text, "rz_requests_total{route=\"other\",code=\"404\"} 1\n"));
    assert_non_null(strstr(text, "rz_requests_total{route=\"/health\",code=\"other\"} 1\n"));
    assert_non_null(strstr(text, "rz_prompt_tokens_total 10\n"));
    assert_non_null(strstr(text, "rz_completion_tokens_total 21\n"));
    /* 20 tokens/s after the first token; cumulative buckets. */
    assert_non_null(strstr(text, "rz_generation_tokens_per_second_bucket{le=\"10\"} 0\n"));
    assert_non_null(strstr(text, "rz_generation_tokens_per_second_bucket{le=\"25\"} 1\n"));
    assert_non_null(strstr(text, "rz_generation_tokens_per_second_bucket{le=\"+Inf\"} 1\n"));
    assert_non_null(strstr(text, "rz_time_to_first_token_seconds_bucket{le=\"0.5\"} 0\n"));
    assert_non_null(strstr(text, "rz_time_to_first_token_seconds_bucket{le=\"1\"} 1\n"));
    assert_non_null(strstr(text, "rz_time_to_first_token_seconds_sum 0.75\n"));
    assert_non_null(strstr(text, "rz_request_duration_seconds_count 1\n"));
    assert_non_null(strstr(text, "# TYPE rz_queue_depth gauge\nrz_queue_depth 2\n"));
    assert_non_null(strstr(text, "rz_kv_cache_usage_ratio 0.25\n"));
    free(text);
    srv_metrics_destroy(&m);
}

/* Pushes pieces; returns everything passed on (flushed at the end). */
static void run_filter(const char *const *stops, size_t n_stops, const char *const *pieces, size_t n,
                       const char *expected, bool expect_hit) {
    rz_stop_filter *f;
    RZ_ASSERT_OK(rz_stop_filter_create(stops, n_stops, &f));
    char got[256] = "";
    bool hit = false;
    for (size_t i = 0; i < n && !hit; i++) {
        const char *out;
        size_t len;
        RZ_ASSERT_OK(rz_stop_filter_push(f, pieces[i], strlen(pieces[i]), &out, &len, &hit));
        strncat(got, out, len);
    }
    const char *out;
    size_t len;
    rz_stop_filter_flush(f, &out, &len);
    strncat(got, out, len);
    assert_string_equal(got, expected);
    assert_int_equal(hit, expect_hit);
    rz_stop_filter_free(f);
}

static void test_stop_filter(void **state) {
    (void)state;
    const char *stops[] = {"END", "", "\n\n"};
    const char *a[] = {"Hello E", "N", "D tail"};
    run_filter(stops, 3, a, 3, "Hello ", true);
    const char *b[] = {"one\n", "two E", "NX"};
    run_filter(stops, 3, b, 3, "one\ntwo ENX", false);
    const char *c[] = {"line\n", "\nmore"};
    run_filter(stops, 3, c, 2, "line", true);
    const char *d[] = {"partial EN"};
    run_filter(stops, 3, d, 1, "partial EN", false); /* held-back tail comes out at the end */
    run_filter(NULL, 0, a, 3, "Hello END tail", false);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sse_frame),
        cmocka_unit_test(test_metrics_text),
        cmocka_unit_test(test_stop_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
