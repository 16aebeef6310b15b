/* Chat templates (rz_chat_*): detection and rendering for each family. */
#include <stdlib.h>
#include <string.h>

#include "ryzanstein.h"
#include "test_support.h"

static const rz_chat_message conversation[] = {
    {"system", "S"}, {"user", "U1"}, {"assistant", "A1"}, {"user", "U2"}};

static void expect_render(rz_chat_template t, const char *expected) {
    char *text;
    assert_int_equal(rz_chat_render(t, conversation, 4, 0, &text, NULL), RZ_OK);
    assert_string_equal(text, expected);
    rz_free(text);
}

static void test_render_families(void **state) {
    (void)state;
    expect_render(RZ_CHAT_CHATML, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n"
                                  "<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\nU2<|im_end|>\n"
                                  "<|im_start|>assistant\n");
    expect_render(RZ_CHAT_LLAMA2, "[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST] A1 </s><s>[INST] U2 [/INST]");
    expect_render(RZ_CHAT_MISTRAL, "[INST] S\n\nU1 [/INST]A1</s>[INST] U2 [/INST]");
    expect_render(
        RZ_CHAT_LLAMA3,
        "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>"
        "\n\nU1<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
    expect_render(RZ_CHAT_GEMMA,
                  "<start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\nA1<end_of_turn>\n"
                  "<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n");
    expect_render(RZ_CHAT_PHI3,
                  "<|system|>\nS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\nA1<|end|>\n<|user|>\nU2<|end|>\n"
                  "<|assistant|>\n");
    expect_render(RZ_CHAT_BITNET,
                  "System: S<|eot_id|>User: U1<|eot_id|>Assistant: A1<|eot_id|>User: U2<|eot_id|>"
                  "Assistant: ");
}

static void expect_detect(const char *jinja, rz_chat_template expected) {
    rz_chat_template t;
    assert_true(rz_chat_template_detect(jinja, strlen(jinja), &t));
    assert_int_equal(t, expected);
}

static void test_detect(void **state) {
    (void)state;
    expect_detect("{% for m in messages %}{{'<|im_start|>' + m['role'] + '\\n'}}{% endfor %}",
                  RZ_CHAT_CHATML);
    expect_detect("{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}<|eot_id|>",
                  RZ_CHAT_LLAMA3);
    expect_detect("{{ bos_token }}{{ message['role'] | capitalize }}: {{ content }}<|eot_id|>"
                  "{% if add_generation_prompt %}Assistant: {% endif %}",
                  RZ_CHAT_BITNET);
    expect_detect("{{ '<start_of_turn>' + role + '\\n' }}", RZ_CHAT_GEMMA);
    expect_detect("{{'<|' + message['role'] + '|>' + '\\n' + message['content'] + '<|end|>'}}<|assistant|>",
                  RZ_CHAT_PHI3);
    expect_detect("{{ bos_token + '[INST] ' + '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}",
                  RZ_CHAT_LLAMA2);
    expect_detect("{{ '[INST] ' + message['content'] + ' [/INST]' }}", RZ_CHAT_MISTRAL);
    rz_chat_template t = RZ_CHAT_GEMMA;
    assert_false(rz_chat_template_detect("{{ messages }}", 12, &t));
    assert_int_equal(t, RZ_CHAT_CHATML);
}

static void test_names(void **state) {
    (void)state;
    for (int i = 0; i < RZ_CHAT_TEMPLATE_COUNT; i++) {
        rz_chat_template t;
        assert_int_equal(rz_chat_template_from_name(rz_chat_template_name((rz_chat_template)i), &t), RZ_OK);
        assert_int_equal(t, i);
        assert_non_null(rz_chat_end_of_turn(t)[0]);
    }
    rz_chat_template t;
    assert_int_equal(rz_chat_template_from_name("jinja", &t), RZ_ERR_NOT_FOUND);
    assert_non_null(strstr(rz_last_error(), "chatml, llama2"));
    assert_string_equal(rz_chat_end_of_turn(RZ_CHAT_LLAMA3)[0], "<|eot_id|>");
    assert_null(rz_chat_end_of_turn(RZ_CHAT_LLAMA3)[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_families),
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
