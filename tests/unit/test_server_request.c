/* rz serve: request parsing and validation, error objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "test_support.h"

static const srv_limits limits = {.max_tokens = 100, .max_n = 4};

static bool parse(srv_kind kind, const char *body, srv_request *r, srv_error *err) {
    return srv_request_parse(kind, body, strlen(body), &limits, r, err);
}

/* Fails with 400 naming `param` (NULL: no param). */
static void expect_error(srv_kind kind, const char *body, const char *param) {
    srv_request r;
    srv_error err;
    if (parse(kind, body, &r, &err)) fail_msg("accepted: %s", body);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.type, "invalid_request_error");
    assert_string_equal(err.param, param ? param : "");
}

static void test_chat_full(void **state) {
    (void)state;
    srv_request r;
    srv_error err;
    assert_true(
        parse(SRV_CHAT,
              "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
              "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
              "\"text\":\"b\"}]},{\"role\":\"assistant\",\"content\":null}],\"max_completion_tokens\":7,"
              "\"temperature\":0.5,\"top_p\":0.9,\"n\":2,\"stop\":[\"x\",\"yy\"],\"seed\":-3,"
              "\"presence_penalty\":1,\"frequency_penalty\":-1,\"logprobs\":true,\"top_logprobs\":3,"
              "\"stream\":true,\"stream_options\":{\"include_usage\":true},\"unknown\":{\"a\":[1]}}",
              &r, &err));
    assert_string_equal(r.model, "m");
    assert_int_equal(r.n_messages, 3);
    assert_string_equal(r.messages[0].role, "system");
    assert_string_equal(r.messages[1].content, "ab");
    assert_string_equal(r.messages[2].content, "");
    assert_int_equal(r.max_tokens, 7);
    assert_true(r.temperature == 0.5f && r.top_p == 0.9f);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.n_stop, 2);
    assert_string_equal(r.stop[1], "yy");
    assert_true(r.has_seed);
    assert_int_equal((int64_t)r.seed, -3);
    assert_int_equal(r.logprobs, 4);
    assert_true(r.stream && r.include_usage);
    srv_request_free(&r);
}

static void test_completion_defaults(void **state) {
    (void)state;
    srv_request r;
    srv_error err;
    assert_true(parse(SRV_COMPLETION,
                      "{\"model\":\"m\",\"prompt\":[\"hi\"],\"stop\":\"\\n\",\"logprobs\":2,"
                      "\"temperature\":null}",
                      &r, &err));
    assert_string_equal(r.prompt, "hi");
    assert_int_equal(r.max_tokens, -1);
    assert_true(r.temperature == 1.0f && r.top_p == 1.0f);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.n_stop, 1);
    assert_string_equal(r.stop[0], "\n");
    assert_int_equal(r.logprobs, 3);
    assert_false(r.stream || r.has_seed);
    srv_request_free(&r);
}

static void test_wrong_types(void **state) {
    (void)state;
    expect_error(SRV_CHAT, "[]", NULL);
    expect_error(SRV_CHAT, "{bad", NULL);
    expect_error(SRV_CHAT, "", NULL);
    expect_error(SRV_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", "model");
    expect_error(SRV_CHAT, "{\"model\":1,\"messages\":[]}", "model");
    expect_error(SRV_CHAT, "{\"model\":\"m\"}", "messages");
    expect_error(SRV_CHAT, "{\"model\":\"m\",\"messages\":[]}", "messages");
    expect_error(SRV_CHAT, "{\"model\":\"m\",\"messages\":[3]}", "messages[0]");
    expect_error(SRV_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"bot\",\"content\":\"x\"}]}",
                 "messages[0].role");
    expect_error(SRV_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}",
                 "messages[0].content");
    expect_error(SRV_CHAT,
                 "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image\"}]}]}",
                 "messages[0].content");
    const char *msgs = "\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]";
    static const struct {
        const char *field, *param;
    } cases[] = {{"\"max_tokens\":\"5\"", "max_tokens"},
                 {"\"max_tokens\":0", "max_tokens"},
                 {"\"max_tokens\":1.5", "max_tokens"},
                 {"\"max_tokens\":101", "max_tokens"},
                 {"\"max_completion_tokens\":-1", "max_completion_tokens"},
                 {"\"temperature\":3", "temperature"},
                 {"\"temperature\":\"hot\"", "temperature"},
                 {"\"top_p\":1.5", "top_p"},
                 {"\"n\":0", "n"},
                 {"\"n\":5", "n"},
                 {"\"stop\":5", "stop"},
                 {"\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop"},
                 {"\"stop\":[1]", "stop"},
                 {"\"seed\":\"1\"", "seed"},
                 {"\"presence_penalty\":2.5", "presence_penalty"},
                 {"\"frequency_penalty\":true", "frequency_penalty"},
                 {"\"logprobs\":1", "logprobs"},
                 {"\"top_logprobs\":2", "top_logprobs"},
                 {"\"logprobs\":true,\"top_logprobs\":21", "top_logprobs"},
                 {"\"stream\":1", "stream"},
                 {"\"stream_options\":{\"include_usage\":true}", "stream_options"},
                 {"\"stream\":true,\"stream_options\":[]", "stream_options"},
                 {"\"stream\":true,\"stream_options\":{\"include_usage\":1}", "include_usage"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[512];
        snprintf(body, sizeof body, "{%s,%s}", msgs, cases[i].field);
        expect_error(SRV_CHAT, body, cases[i].param);
    }
    expect_error(SRV_COMPLETION, "{\"model\":\"m\"}", "prompt");
    expect_error(SRV_COMPLETION, "{\"model\":\"m\",\"prompt\":[\"a\",\"b\"]}", "prompt");
    expect_error(SRV_COMPLETION, "{\"model\":\"m\",\"prompt\":[1,2]}", "prompt");
    expect_error(SRV_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":6}", "logprobs");
    expect_error(SRV_COMPLETION, "{\"model\":\"m\",\"prompt\":\"x\",\"logprobs\":true}", "logprobs");
}

static void test_error_json(void **state) {
    (void)state;
    srv_error err;
    srv_error_set(&err, 401, "invalid_request_error", NULL, "invalid_api_key", "bad key %d", 1);
    char *json = srv_error_json(&err);
    assert_non_null(json);
    assert_string_equal(json, "{\"error\":{\"message\":\"bad key 1\",\"type\":\"invalid_request_error\","
                              "\"param\":null,\"code\":\"invalid_api_key\"}}");
    free(json);
    srv_error_set(&err, 400, "invalid_request_error", "n", NULL, "x");
    json = srv_error_json(&err);
    assert_non_null(strstr(json, "\"param\":\"n\",\"code\":null"));
    free(json);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_full),
        cmocka_unit_test(test_completion_defaults),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_error_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
