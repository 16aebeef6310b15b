/* rz serve: gpt-oss's harmony format. Detection over the shared templates,
 * rendering byte for byte against the real template through jinja2
 * (tests/support/render_jinja.py; skipped without python3-jinja2), and the
 * output channel parser over whole, byte-by-byte and random splits. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"
#include "test_support.h"

#define GPT_OSS "testdata/chat-templates/openai-gpt-oss-120b.jinja"
#define NOW     1767225599 /* 2025-12-31 23:59:59 UTC: the date is UTC's, not local */

static void test_detect(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/chat-templates");
    DIR *dir = opendir(rz_test_shared_path("testdata/chat-templates"));
    assert_non_null(dir);
    int n_harmony = 0;
    for (struct dirent *e; (e = readdir(dir));) {
        if (!strstr(e->d_name, ".jinja")) continue;
        char rel[512];
        snprintf(rel, sizeof rel, "testdata/chat-templates/%s", e->d_name);
        size_t len;
        char *jinja = rz_test_read_file(rz_test_shared_path(rel), &len);
        assert_non_null(jinja);
        rz_chat_template t;
        const bool harmony = rz_chat_template_detect(jinja, len, &t) && t == RZ_CHAT_HARMONY;
        if (harmony != (strncmp(e->d_name, "openai-gpt-oss", 14) == 0)) fail_msg("%s", e->d_name);
        n_harmony += harmony;
        free(jinja);
    }
    closedir(dir);
    assert_int_equal(n_harmony, 1);
    rz_chat_template t;
    assert_int_equal(rz_chat_template_from_name("harmony", &t), RZ_OK);
    assert_int_equal(t, RZ_CHAT_HARMONY);
    assert_string_equal(rz_chat_end_of_turn(t)[0], "<|return|>");
    assert_string_equal(rz_chat_end_of_turn(t)[1], "<|call|>");
    assert_null(rz_chat_end_of_turn(t)[2]);
}

static char *render(const rz_chat_message *m, size_t n) {
    char *text;
    return rz_chat_render(RZ_CHAT_HARMONY, m, n, NOW, &text, NULL) == RZ_OK ? text : NULL;
}

static void test_render(void **state) {
    (void)state;
    const rz_chat_message m[] = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
    char *text = render(m, 4);
    assert_non_null(text);
    assert_string_equal(
        text, "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
              "Knowledge cutoff: 2024-06\nCurrent date: 2025-12-31\n\nReasoning: medium\n\n"
              "# Valid channels: analysis, commentary, final. Channel must be included for every "
              "message.<|end|><|start|>developer<|message|># Instructions\n\nBe brief.\n\n<|end|>"
              "<|start|>user<|message|>Hi<|end|><|start|>assistant<|channel|>final<|message|>"
              "Hello!<|end|><|start|>user<|message|>2+2?<|end|><|start|>assistant");
    free(text);
    rz_chat_fault fault;
    const rz_chat_message tagged[] = {{"user", "Hi"}, {"assistant", "<|channel|>final<|message|>Hello"}};
    assert_int_equal(rz_chat_render(RZ_CHAT_HARMONY, tagged, 2, NOW, &text, &fault), RZ_ERR_INVALID_ARG);
    assert_null(text);
    assert_int_equal(fault.message, 1);
    assert_string_equal(fault.field, "content");
    assert_non_null(strstr(rz_last_error(), "'messages[1].content' must not contain <|channel|>"));
    const rz_chat_message tool[] = {{"user", "Hi"}, {"tool", "42"}};
    assert_int_equal(rz_chat_render(RZ_CHAT_HARMONY, tool, 2, NOW, &text, &fault), RZ_ERR_INVALID_ARG);
    assert_int_equal(fault.message, 1);
    assert_string_equal(fault.field, "role");
}

typedef struct conversation {
    const rz_chat_message *m;
    size_t n;
} conversation;

/* The real template's renderings of the conversations (a JSON array, NULL
 * where it raised) through tests/support/render_jinja.py; its exit status. */
static int oracle(const conversation *c, size_t n, cJSON **out) {
    cJSON *all = cJSON_CreateArray();
    for (size_t k = 0; k < n; k++) {
        cJSON *arr = cJSON_CreateArray();
        for (size_t i = 0; i < c[k].n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "role", c[k].m[i].role);
            cJSON_AddStringToObject(o, "content", c[k].m[i].content);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddItemToArray(all, arr);
    }
    char *json = cJSON_PrintUnformatted(all);
    cJSON_Delete(all);
    const char *path = rz_test_temp_path("conversations.json");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    free(json);
    /* The script sits in the source tree, beside this file's folder. */
    char dir[1024], cmd[4096];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    *strrchr(dir, '/') = '\0';
    snprintf(cmd, sizeof cmd, "python3 '%s/../support/render_jinja.py' '%s' %d < '%s'", dir,
             rz_test_shared_path(GPT_OSS), NOW, path);
    char *text = NULL;
    const int status = rz_test_run(cmd, &text);
    *out = status == 0 && text ? cJSON_Parse(text) : NULL;
    free(text);
    return status;
}

static void test_render_matches_jinja(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(GPT_OSS);
    static const rz_chat_message user[] = {{"user", "Hi"}};
    static const rz_chat_message full[] = {
        {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "2+2?"}};
    static const rz_chat_message empty_system[] = {{"system", ""}, {"user", "Hi"}};
    /* A system message after the first is not rendered. */
    static const rz_chat_message late_system[] = {
        {"user", "Hi"}, {"assistant", "Hello"}, {"system", "ignored"}, {"user", "Bye"}};
    static const rz_chat_message text[] = {{"system", "Line 1\nLine 2 {{ x }} %s %% \"q\" 'q'"},
                                           {"assistant", "I start. \xc3\xbc \xf0\x9f\x98\x80\n\n"},
                                           {"user", "  spaced \t\n"},
                                           {"assistant", ""},
                                           {"user", "<|end|> as text"}};
    static const rz_chat_message two_turns[] = {
        {"user", "a"}, {"assistant", "b"}, {"user", "c"}, {"assistant", "d"}, {"user", "e"}};
    static const rz_chat_message tagged[] = {{"user", "Hi"},
                                             {"assistant", "x<|channel|>analysis<|message|>y"}};
    static const rz_chat_message tool[] = {{"user", "Hi"}, {"tool", "42"}};
    static const conversation cases[] = {{user, 1}, {full, 4},      {empty_system, 2}, {late_system, 4},
                                         {text, 5}, {two_turns, 5}, {tagged, 2},       {tool, 2}};
    const size_t n = sizeof cases / sizeof cases[0];
    cJSON *expected;
    const int status = oracle(cases, n, &expected);
    if (status == 77 || status == 127) skip(); /* no python3-jinja2, no python3 */
    assert_int_equal(status, 0);
    assert_int_equal(cJSON_GetArraySize(expected), n);
    for (size_t c = 0; c < n; c++) {
        const cJSON *want = cJSON_GetArrayItem(expected, (int)c);
        char *got = render(cases[c].m, cases[c].n);
        if (cJSON_IsString(want)) {
            assert_non_null(got);
            if (strcmp(got, want->valuestring) != 0)
                fail_msg("case %zu:\n%s\n-- jinja2:\n%s", c, got, want->valuestring);
        } else {
            /* The template raised: the renderer refuses too. */
            assert_true(cJSON_IsNull(want));
            assert_null(got);
        }
        free(got);
    }
    cJSON_Delete(expected);
}

typedef struct split {
    char content[512], reasoning[512];
} split;

/* How a reply is read: harmony, <think> sections, or those with the prompt
 * having opened one. */
typedef enum mode { HARMONY, THINK, THINK_OPEN } mode;

/* Parses `text` handed over in pieces cut at the given lengths (0: the rest). */
static void parse(mode m, const char *text, const size_t *cuts, size_t n_cuts, split *s) {
    srv_reply h;
    if (m == HARMONY)
        srv_reply_init_harmony(&h);
    else
        srv_reply_init_think(&h, m == THINK_OPEN);
    srv_channels out = {.content = s->content, .reasoning = s->reasoning};
    const size_t len = strlen(text);
    assert_true(len + SRV_REPLY_HELD < sizeof s->content);
    size_t at = 0;
    for (size_t i = 0; at < len; i++) {
        size_t piece = i < n_cuts && cuts[i] ? cuts[i] : len - at;
        if (piece > len - at) piece = len - at;
        srv_reply_push(&h, text + at, piece, &out);
        at += piece;
    }
    srv_reply_flush(&h, &out);
    s->content[out.n_content] = '\0';
    s->reasoning[out.n_reasoning] = '\0';
}

static void expect_split(mode m, const char *text, const char *content, const char *reasoning) {
    split whole;
    parse(m, text, NULL, 0, &whole);
    assert_string_equal(whole.content, content);
    assert_string_equal(whole.reasoning, reasoning);
    /* Byte by byte, then random cuts: the same split. */
    size_t cuts[512];
    const size_t len = strlen(text);
    for (size_t i = 0; i < len; i++)
        cuts[i] = 1;
    split s;
    parse(m, text, cuts, len, &s);
    assert_string_equal(s.content, content);
    assert_string_equal(s.reasoning, reasoning);
    uint64_t rng = 7;
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < len; i++)
            cuts[i] = 1 + rz_test_rand_u64(&rng) % 12;
        parse(m, text, cuts, len, &s);
        assert_string_equal(s.content, content);
        assert_string_equal(s.reasoning, reasoning);
    }
}

static void expect_parse(const char *text, const char *content, const char *reasoning) {
    expect_split(HARMONY, text, content, reasoning);
}

static void test_parse(void **state) {
    (void)state;
    expect_parse("<|channel|>analysis<|message|>User says hi. 1 < 2, <|ok|> <|end <|endx.<|end|>"
                 "<|start|>assistant<|channel|>final<|message|>Hello! \xc3\xa9\xf0\x9f\x98\x80 <<|>",
                 "Hello! \xc3\xa9\xf0\x9f\x98\x80 <<|>", "User says hi. 1 < 2, <|ok|> <|end <|endx.");
    /* The turn ends at <|return|> (or <|call|>); nothing after it counts. */
    expect_parse("<|channel|>final<|message|>Done.<|return|>more<|channel|>final<|message|>x", "Done.", "");
    /* Commentary (a preamble or tool call) is not reasoning; its header's
     * recipient and content type are dropped. */
    expect_parse("<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>commentary "
                 "to=functions.f <|constrain|>json<|message|>{\"a\":1}<|call|>",
                 "{\"a\":1}", "think");
    /* Cut short (max_tokens) in the analysis: no content; a marker's
     * beginning at the end is text. */
    expect_parse("<|channel|>analysis<|message|>Let me <|", "", "Let me <|");
    expect_parse("<|channel|>analysis<|mess", "", "");
    /* Output that is not harmony at all is the answer. */
    expect_parse("Plain text, no <b>channels</b>.", "Plain text, no <b>channels</b>.", "");
    /* A channel name longer than the parser keeps is not analysis. */
    expect_parse("<|channel|>analysisanalysisanalysis<|message|>x", "x", "");
    expect_parse("", "", "");
}

/* <think> sections (Qwen3, DeepSeek-R1) become the reasoning, split the
 * same however the text is cut. */
static void test_think(void **state) {
    (void)state;
    expect_split(THINK, "<think>\nThe user greets. 1 < 2 <thin </thinking\n</think>\n\nHello <b>!</b>",
                 "\n\nHello <b>!</b>", "\nThe user greets. 1 < 2 <thin </thinking\n");
    /* No section: all content, a marker's beginning at the end included. */
    expect_split(THINK, "Plain answer <thi", "Plain answer <thi", "");
    /* Cut short while thinking: reasoning only. */
    expect_split(THINK, "<think>Let me see", "", "Let me see");
    /* The prompt opened the section (DeepSeek-R1): the reply starts in it. */
    expect_split(THINK_OPEN, "Reasoning.</think>Answer.", "Answer.", "Reasoning.");
    expect_split(THINK_OPEN, "", "", "");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_matches_jinja),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_think),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
