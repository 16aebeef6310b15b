/* rz serve: chat template detection and rendering for each family. */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "test_support.h"

static const srv_message conversation[] = {
    {"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};

static void expect_render(srv_template t, const char *expected) {
    srv_error err;
    char *text = srv_template_render(t, conversation, 4, 0, &err);
    assert_non_null(text);
    assert_string_equal(text, expected);
    free(text);
}

static void test_render_families(void **state) {
    (void)state;
    expect_render(SRV_TMPL_CHATML, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n"
                                   "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n"
                                   "<|im_start|>assistant\n");
    expect_render(SRV_TMPL_LLAMA2, "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]");
    expect_render(SRV_TMPL_MISTRAL, "[INST] S\n\nU1 [/INST]A1</s>[INST] U2 [/INST]");
    expect_render(
        SRV_TMPL_LLAMA3,
        "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>"
        "\n\nU1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(SRV_TMPL_GEMMA,
                  "<start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n"
                  "<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n");
    expect_render(SRV_TMPL_PHI3,
                  "<|system|>\nS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\nA1<|end|>\n<|user|>\nU2<|end|>\n"
                  "<|assistant|>\n");
    expect_render(SRV_TMPL_BITNET,
                  "System: S<|eot_id|>User: U1<|eot_id|>Assistant: A1<|eot_id|>User: U2<|eot_id|>"
                  "Assistant: ");
}

static void expect_detect(const char *jinja, srv_template expected) {
    srv_template t;
    assert_true(srv_template_detect(jinja, strlen(jinja), &t));
    assert_int_equal(t, expected);
}

static void test_detect(void **state) {
    (void)state;
    expect_detect("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n'}}{% endfor %}",
                  SRV_TMPL_CHATML);
    expect_detect("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}<|eot_id|>",
                  SRV_TMPL_LLAMA3);
    expect_detect("{{ bos_token }}{{ message['role'] | capitalize }}: {{ content }}<|eot_id|>"
                  "{% if add_generation_prompt %}Assistant: {% endif %}",
                  SRV_TMPL_BITNET);
    expect_detect("{{ '<start_of_turn>' + role + '\\n' }}", SRV_TMPL_GEMMA);
    expect_detect("{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>'}}<|assistant|>",
                  SRV_TMPL_PHI3);
    expect_detect("{{ bos_token + '[INST] ' + '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}",
                  SRV_TMPL_LLAMA2);
    expect_detect("{{ '[INST] ' + message['content'] + ' [/INST]' }}", SRV_TMPL_MISTRAL);
    srv_template t = SRV_TMPL_GEMMA;
    assert_false(srv_template_detect("{{ messages }}", 12, &t));
    assert_int_equal(t, SRV_TMPL_CHATML);
}

static void test_names(void **state) {
    (void)state;
    for (int i = 0; i < SRV_TMPL_COUNT; i++) {
        srv_template t;
        assert_true(srv_template_from_name(srv_template_name((srv_template)i), &t));
        assert_int_equal(t, i);
        assert_non_null(srv_template_end_of_turn(t)[0]);
    }
    srv_template t;
    assert_false(srv_template_from_name("jinja", &t));
    assert_string_equal(srv_template_end_of_turn(SRV_TMPL_LLAMA3)[0], "<|eot_id|>");
    assert_null(srv_template_end_of_turn(SRV_TMPL_LLAMA3)[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_families),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
