/* test_profile.c — `kiln profile` on a fixture model: the JSON report has the memory anatomy and
 * one entry per kernel; the Chrome trace is valid JSON with a complete event per kernel and arena
 * counter events; the SVG is well-formed XML with a box per arena buffer, the weights aside and
 * the peak marked. argv[1] is the kiln executable.
 */
#include <ctype.h>
#include <math.h>

#include <cjson/cJSON.h>

#include "common/common.h"
#include "frontend/scratch_dir.h"
#include "test.h"

/* ---- a small XML well-formedness checker: tags nest and close, attributes are quoted, entities
 * are known, and it counts elements by name ---- */

typedef struct xml_count {
    int svg, rect_buffer, rect_weights, peak, text;
} xml_count;

static bool xml_check(const char *s, xml_count *cnt, char *why, size_t why_size) {
    char stack[64][32];
    int depth = 0;
    bool root_seen = false;
    while (*s) {
        if (*s == '&') {
            const char *ents[] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
            bool ok = false;
            for (size_t i = 0; i < 5 && !ok; i++) ok = strncmp(s, ents[i], strlen(ents[i])) == 0;
            if (!ok) return snprintf(why, why_size, "bad entity near '%.20s'", s), false;
            s++;
            continue;
        }
        if (*s != '<') {
            if (depth == 0 && root_seen && !(*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r'))
                return snprintf(why, why_size, "text after the root element"), false;
            s++;
            continue;
        }
        if (strncmp(s, "<?", 2) == 0) {
            const char *e = strstr(s, "?>");
            if (!e) return snprintf(why, why_size, "unterminated <?"), false;
            s = e + 2;
            continue;
        }
        bool closing = s[1] == '/';
        const char *p = s + 1 + closing;
        char name[32];
        size_t n = 0;
        while (*p && (isalnum((unsigned char)*p) || *p == '-' || *p == ':' || *p == '_') && n < sizeof(name) - 1) name[n++] = *p++;
        name[n] = '\0';
        if (!n) return snprintf(why, why_size, "bad tag near '%.20s'", s), false;
        if (closing) {
            if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
                return snprintf(why, why_size, "</%s> closes %s", name, depth ? stack[depth - 1] : "nothing"), false;
            depth--;
            while (*p == ' ') p++;
            if (*p != '>') return snprintf(why, why_size, "bad </%s>", name), false;
            s = p + 1;
            continue;
        }
        // attributes: name="value"
        bool self_close = false, is_peak = false;
        char cls[32] = "";
        for (;;) {
            while (*p == ' ' || *p == '\n') p++;
            if (*p == '>') break;
            if (p[0] == '/' && p[1] == '>') {
                self_close = true;
                p++;
                break;
            }
            char attr[32];
            size_t an = 0;
            while (*p && *p != '=' && *p != ' ' && *p != '>' && an < sizeof(attr) - 1) attr[an++] = *p++;
            attr[an] = '\0';
            if (!an || *p != '=' || p[1] != '"') return snprintf(why, why_size, "attribute '%s' of <%s> is not name=\"value\"", attr, name), false;
            p += 2;
            const char *v = p;
            while (*p && *p != '"' && *p != '<') p++;
            if (*p != '"') return snprintf(why, why_size, "unterminated attribute '%s' of <%s>", attr, name), false;
            if (strcmp(attr, "id") == 0 && p - v == 4 && strncmp(v, "peak", 4) == 0) is_peak = true;
            if (strcmp(attr, "class") == 0) snprintf(cls, sizeof(cls), "%.*s", (int)(p - v), v);
            p++;
        }
        if (depth == 0 && root_seen) return snprintf(why, why_size, "a second root element <%s>", name), false;
        root_seen = true;
        if (strcmp(name, "svg") == 0) cnt->svg++;
        if (strcmp(name, "rect") == 0 && strcmp(cls, "buffer") == 0) cnt->rect_buffer++;
        if (strcmp(name, "rect") == 0 && strcmp(cls, "weights") == 0) cnt->rect_weights++;
        if (strcmp(name, "text") == 0) cnt->text++;
        cnt->peak += is_peak;
        if (!self_close) {
            if (depth == 64) return snprintf(why, why_size, "nested too deep"), false;
            snprintf(stack[depth++], sizeof(stack[0]), "%s", name);
        }
        s = p + 1;
    }
    if (depth) return snprintf(why, why_size, "<%s> never closed", stack[depth - 1]), false;
    return root_seen || (snprintf(why, why_size, "no element"), false);
}

static void test_xml_checker(void) {   // the checker itself must reject broken documents
    xml_count c = {0};
    char why[128];
    CHECK(xml_check("<svg a=\"1\"><rect class=\"buffer\"/><text>x &amp; y</text></svg>", &c, why, sizeof(why)));
    CHECK(c.svg == 1 && c.rect_buffer == 1 && c.text == 1);
    CHECK(!xml_check("<svg><rect></svg>", &c, why, sizeof(why)));
    CHECK(!xml_check("<svg a=1></svg>", &c, why, sizeof(why)));
    CHECK(!xml_check("<svg>a & b</svg>", &c, why, sizeof(why)));
    CHECK(!xml_check("<svg></svg><svg></svg>", &c, why, sizeof(why)));
}

static char *read_all(const char *path) {
    char *text = NULL;
    return kiln_read_file(path, &text, NULL) == KILN_OK ? text : NULL;
}

int main(int argc, char **argv) {
    test_xml_checker();
    CHECK_MSG(argc > 1, "usage: test_profile KILN_EXECUTABLE");
    if (argc < 2) return test_summary();
    scratch_init(argc > 2 ? "profile-cpu" : "profile");   // the two runs may go in parallel
    (void)scratch_subdir;   // scratch_dir.h's helpers this test does not need
    (void)scratch_write_text;
    char trace[4096], svg[4096], json[4096], cmd[16384];
    snprintf(trace, sizeof(trace), "%s", scratch_path("trace.json"));
    snprintf(svg, sizeof(svg), "%s", scratch_path("memory.svg"));
    snprintf(json, sizeof(json), "%s", scratch_path("profile.json"));
    const char *target = argc > 2 ? argv[2] : "interp";   // run once per backend
    snprintf(cmd, sizeof(cmd), "'%s' profile '%s/models/bert-base' --target %s --batch 2 --seq 16 --runs 2 --json --trace '%s' --svg '%s' > '%s'",
             argv[1], KILN_FIXTURES, target, trace, svg, json);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "%s -> %d", cmd, rc);

    // the report
    char *text = read_all(json);
    cJSON *r = text ? cJSON_Parse(text) : NULL;
    CHECK_MSG(r != NULL, "the --json report does not parse");
    const cJSON *mem = cJSON_GetObjectItem(r, "memory"), *arena = cJSON_GetObjectItem(mem, "arena");
    const cJSON *weights = cJSON_GetObjectItem(mem, "weights"), *kernels = cJSON_GetObjectItem(r, "kernels");
    double planned = cJSON_GetNumberValue(cJSON_GetObjectItem(arena, "planned"));
    double lower = cJSON_GetNumberValue(cJSON_GetObjectItem(arena, "lower_bound"));
    double naive = cJSON_GetNumberValue(cJSON_GetObjectItem(arena, "naive"));
    CHECK(planned > 0 && lower > 0 && lower <= planned && planned <= naive);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(weights, "total")) > 0);
    // Every weight byte is in one of the three kinds; the CPU backend packs the matmul weights (and
    // the predicted peak then leaves out the compiler code that compiling hands back).
    double w_total = cJSON_GetNumberValue(cJSON_GetObjectItem(weights, "total"));
    double w_kinds = cJSON_GetNumberValue(cJSON_GetObjectItem(weights, "mapped")) + cJSON_GetNumberValue(cJSON_GetObjectItem(weights, "owned")) +
                     cJSON_GetNumberValue(cJSON_GetObjectItem(weights, "packed"));
    CHECK_MSG(fabs(w_total - w_kinds) < 1, "%s: weights mapped + owned + packed = %.0f, total %.0f", target, w_kinds, w_total);
    double packed = cJSON_GetNumberValue(cJSON_GetObjectItem(weights, "packed"));
    double released = cJSON_GetNumberValue(cJSON_GetObjectItem(mem, "compiler_code_released"));
    if (strcmp(target, "cpu") == 0)
        CHECK_MSG(packed > 0.5 * w_total && released > 0, "cpu: %.0f of %.0f weight bytes packed, %.0f bytes of compiler code released", packed,
                  w_total, released);
    else
        CHECK_MSG(packed == 0 && released == 0, "%s: %.0f weight bytes packed, %.0f of compiler code released", target, packed, released);
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(cJSON_GetObjectItem(weights, "by_dtype"), "f32")) > 0);
    const char *fields[] = {"temporaries", "state", "runtime_overhead", "predicted_peak_rss", "measured_peak_rss"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) CHECK_MSG(cJSON_IsNumber(cJSON_GetObjectItem(mem, fields[i])), "no memory.%s", fields[i]);
    int n_kernels = cJSON_GetArraySize(kernels);
    CHECK(n_kernels > 5);
    double share = 0;
    const cJSON *k;
    bool attention = false;
    cJSON_ArrayForEach(k, kernels) {
        const char *kf[] = {"flops", "bytes", "intensity", "ms", "share"};
        for (size_t i = 0; i < sizeof(kf) / sizeof(kf[0]); i++) CHECK(cJSON_IsNumber(cJSON_GetObjectItem(k, kf[i])));
        CHECK(cJSON_IsString(cJSON_GetObjectItem(k, "class")) && cJSON_IsString(cJSON_GetObjectItem(k, "module")));
        share += cJSON_GetNumberValue(cJSON_GetObjectItem(k, "share"));
        const char *op = cJSON_GetStringValue(cJSON_GetObjectItem(k, "op"));
        attention |= op && strcmp(op, "fused.attention") == 0;
        // the seed's three classes of work (and data movement): a fused region counts as its heaviest part
        const char *cls = cJSON_GetStringValue(cJSON_GetObjectItem(k, "class"));
        CHECK_MSG(cls && (strcmp(cls, "contraction") == 0 || strcmp(cls, "normalization") == 0 || strcmp(cls, "element-wise") == 0 ||
                          strcmp(cls, "movement") == 0),
                  "%s: kernel %s has class %s", target, op ? op : "?", cls ? cls : "-");
        if (op && (strcmp(op, "fused.gemm") == 0 || strcmp(op, "fused.attention") == 0))
            CHECK_MSG(cls && strcmp(cls, "contraction") == 0, "%s: %s is %s, not a contraction", target, op, cls ? cls : "-");
    }
    CHECK_MSG(share > 0.5 && share <= 1.05, "kernel shares sum to %g", share);
    CHECK(attention);
    cJSON_Delete(r);
    free(text);

    // the trace
    text = read_all(trace);
    cJSON *t = text ? cJSON_Parse(text) : NULL;
    CHECK_MSG(t != NULL, "the trace does not parse as JSON");
    const cJSON *ev, *events = cJSON_GetObjectItem(t, "traceEvents");
    int n_x = 0, n_c = 0;
    double last_end = 0;
    bool ordered = true;
    cJSON_ArrayForEach(ev, events) {
        const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(ev, "ph"));
        if (!ph) continue;
        double ts = cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "ts"));
        if (strcmp(ph, "X") == 0) {
            n_x++;
            ordered &= ts + 1e-9 >= last_end;
            last_end = ts + cJSON_GetNumberValue(cJSON_GetObjectItem(ev, "dur"));
            CHECK(cJSON_IsString(cJSON_GetObjectItem(ev, "name")) && cJSON_IsObject(cJSON_GetObjectItem(ev, "args")));
        } else if (strcmp(ph, "C") == 0) {
            n_c++;
            CHECK(cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(ev, "args"), "live bytes")));
        }
    }
    CHECK_MSG(n_x == n_kernels, "%d complete events for %d kernels", n_x, n_kernels);
    CHECK(n_c >= n_kernels && ordered);
    cJSON_Delete(t);
    free(text);

    // the picture
    text = read_all(svg);
    xml_count c = {0};
    char why[256] = "";
    CHECK_MSG(text && xml_check(text, &c, why, sizeof(why)), "the SVG is not well-formed XML: %s", why);
    CHECK(c.svg == 1 && c.rect_buffer > 5 && c.rect_weights >= 1 && c.peak == 1 && c.text > 10);
    free(text);
    scratch_cleanup();
    return test_summary();
}
