/*
 * spec-interp.c - variable interpolation (Compose Specification
 * 12-interpolation.md) as compose-go template/template.go implements it, the
 * interpolation environment, and the .env file parser (compose-go dotenv/,
 * itself derived from godotenv).
 */
#include "specs/spec-internal.h"

#include <ctype.h>
#include <string.h>

#include "common/stk-alloc.h"
#include "common/stk-buf.h"

const char *spec__env_get(const struct spec__env *env, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; env && i < env->n; i++)
        if (strncmp(env->kv[i], name, len) == 0 && env->kv[i][len] == '=')
            return env->kv[i] + len + 1;
    return NULL;
}

void spec__env_set_default(struct spec__env *env, const char *name, const char *value)
{
    if (spec__env_get(env, name))
        return;
    if (env->n + 2 > env->alloc) {
        env->alloc = env->alloc ? env->alloc * 2 : 16;
        env->kv = stk_xrealloc(env->kv, env->alloc * sizeof(*env->kv));
    }
    env->kv[env->n++] = stk_xasprintf("%s=%s", name, value ? value : "");
    env->kv[env->n] = NULL;
}

void spec__env_release(struct spec__env *env)
{
    if (!env)
        return;
    for (size_t i = 0; i < env->n; i++)
        free(env->kv[i]);
    free(env->kv);
    env->kv = NULL;
    env->n = env->alloc = 0;
}

struct subst {
    const struct spec__env *env;
    void (*warn_unset)(const char *name, void *userdata);
    void *userdata;
    const char *whole; /* the whole template, for messages */
    char *msg;         /* first error */
    int depth;
};

static int is_name_start(char c)
{
    return c == '_' || isalpha((unsigned char)c);
}

static int is_name_char(char c)
{
    return c == '_' || isalnum((unsigned char)c);
}

static int subst_run(struct subst *st, const char *s, size_t len, struct stk_buf *out);

static const char *lookup(struct subst *st, const char *name, size_t len, char **ret_name)
{
    char *n = stk_xstrndup(name, len);
    const char *v = spec__env_get(st->env, n);

    *ret_name = n;
    return v;
}

/*
 * Returns the index (relative to S) of the '}' closing the "${" at S, counting
 * nested "${" as compose-go getFirstBraceClosingIndex does; when the braces do
 * not balance, the last '}' (the greedy regular expression's choice); -1 when
 * there is none.
 */
static long closing_brace(const char *s, size_t len)
{
    int open = 0;
    long last = -1;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '}') {
            last = (long)i;
            open--;
            if (open == 0)
                return (long)i;
        }
        if (s[i] == '$' && i + 1 < len && s[i + 1] == '{') {
            open++;
            i++;
        }
    }
    return last;
}

static int invalid(struct subst *st)
{
    if (!st->msg)
        st->msg = stk_xasprintf("invalid interpolation format in '%s': you may need to escape "
                                "any $ with another $",
                                st->whole);
    return -1;
}

static int braced(struct subst *st, const char *c, size_t len, struct stk_buf *out)
{
    size_t nlen = 0;
    _cleanup_free_ char *name = NULL;
    const char *value;
    const char *rest;
    size_t rlen;
    int colon = 0;
    char op;

    if (len == 0 || !is_name_start(c[0]))
        return invalid(st);
    while (nlen < len && is_name_char(c[nlen]))
        nlen++;
    value = lookup(st, c, nlen, &name);
    if (nlen == len) {
        if (!value && st->warn_unset)
            st->warn_unset(name, st->userdata);
        stk_buf_puts(out, value ? value : "");
        return 0;
    }
    rest = c + nlen;
    rlen = len - nlen;
    if (rest[0] == ':') {
        colon = 1;
        rest++;
        rlen--;
    }
    if (rlen == 0 || (rest[0] != '-' && rest[0] != '+' && rest[0] != '?'))
        return invalid(st);
    op = rest[0];
    rest++;
    rlen--;
    switch (op) {
    case '-':
        if (value && (!colon || value[0])) {
            stk_buf_puts(out, value);
            return 0;
        }
        return subst_run(st, rest, rlen, out);
    case '+':
        if (value && (!colon || value[0]))
            return subst_run(st, rest, rlen, out);
        return 0;
    case '?':
        if (value && (!colon || value[0])) {
            stk_buf_puts(out, value);
            return 0;
        } else {
            struct stk_buf m = STK_BUF_INIT;
            if (subst_run(st, rest, rlen, &m) < 0) {
                stk_buf_release(&m);
                return -1;
            }
            if (!st->msg)
                st->msg = m.len ? stk_xasprintf("required variable %s is missing a value: %s", name,
                                                m.buf)
                                : stk_xasprintf("required variable %s is missing a value", name);
            stk_buf_release(&m);
            return -1;
        }
    }
    return invalid(st);
}

static int subst_run(struct subst *st, const char *s, size_t len, struct stk_buf *out)
{
    if (++st->depth > 64) {
        st->depth--;
        return invalid(st);
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '$' || i + 1 >= len) {
            /* The text up to the next '$' (or the end) in one copy. */
            const char *d = memchr(s + i + 1, '$', len - i - 1);
            size_t end = d ? (size_t)(d - s) : len;
            stk_buf_add(out, s + i, end - i);
            i = end - 1;
            continue;
        }
        if (s[i + 1] == '$') {
            stk_buf_putc(out, '$');
            i++;
        } else if (is_name_start(s[i + 1])) {
            size_t j = i + 1;
            _cleanup_free_ char *name = NULL;
            const char *v;
            while (j < len && is_name_char(s[j]))
                j++;
            v = lookup(st, s + i + 1, j - i - 1, &name);
            if (!v && st->warn_unset)
                st->warn_unset(name, st->userdata);
            stk_buf_puts(out, v ? v : "");
            i = j - 1;
        } else if (s[i + 1] == '{') {
            long close = closing_brace(s + i, len - i);
            if (close < 0) {
                st->depth--;
                return invalid(st);
            }
            if (braced(st, s + i + 2, (size_t)close - 2, out) < 0) {
                st->depth--;
                return -1;
            }
            i += (size_t)close;
        } else {
            stk_buf_putc(out, '$');
        }
    }
    st->depth--;
    return 0;
}

int spec__interpolate(const char *template, const struct spec__env *env,
                      void (*warn_unset)(const char *name, void *userdata), void *userdata,
                      char **ret_out, char **ret_msg)
{
    struct subst st = {
        .env = env, .warn_unset = warn_unset, .userdata = userdata, .whole = template};
    struct stk_buf out = STK_BUF_INIT;

    if (!strchr(template, '$')) {
        *ret_out = stk_xstrdup(template);
        return 0;
    }
    if (subst_run(&st, template, strlen(template), &out) < 0) {
        stk_buf_release(&out);
        *ret_msg = st.msg ? st.msg : stk_xstrdup("invalid interpolation");
        return -1;
    }
    free(st.msg);
    *ret_out = stk_buf_detach(&out, NULL);
    return 0;
}

struct tree_ctx {
    const struct spec__env *env;
    struct stk_diag *diag;
    const struct spec__node *node;
    int errors;
};

static void tree_warn(const char *name, void *userdata)
{
    struct tree_ctx *tc = userdata;

    stk_diag_add(tc->diag, STK_DIAG_WARNING, tc->node->file, tc->node->line, tc->node->col,
                 "the '%s' variable is not set, defaulting to a blank string", name);
}

static void interp_node(struct tree_ctx *tc, struct spec__node *n)
{
    if (n->kind == SPEC__K_MAP || n->kind == SPEC__K_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            interp_node(tc, n->items[i]);
        return;
    }
    if (n->kind != SPEC__K_STR || !n->str || !strchr(n->str, '$'))
        return;
    {
        char *out = NULL, *msg = NULL;
        tc->node = n;
        if (spec__interpolate(n->str, tc->env, tree_warn, tc, &out, &msg) < 0) {
            stk_diag_add(tc->diag, STK_DIAG_ERROR, n->file, n->line, n->col, "%s", msg);
            free(msg);
            tc->errors++;
            return;
        }
        spec__node_set_str_take(n, out);
    }
}

int spec__interpolate_tree(struct spec__node *root, const struct spec__env *env,
                           struct stk_diag *diag)
{
    struct tree_ctx tc = {.env = env, .diag = diag};

    interp_node(&tc, root);
    return tc.errors;
}

static char *dotenv_unquote_double(const char *s, size_t len)
{
    struct stk_buf b = STK_BUF_INIT;

    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            char c = s[++i];
            switch (c) {
            case 'n':
                stk_buf_putc(&b, '\n');
                break;
            case 'r':
                stk_buf_putc(&b, '\r');
                break;
            case 't':
                stk_buf_putc(&b, '\t');
                break;
            case '"':
            case '\\':
            case '$':
                stk_buf_putc(&b, c);
                if (c == '$')
                    stk_buf_putc(&b, '$'); /* keep it literal through interpolation */
                break;
            default:
                stk_buf_putc(&b, '\\');
                stk_buf_putc(&b, c);
            }
        } else {
            stk_buf_putc(&b, s[i]);
        }
    }
    return stk_buf_detach(&b, NULL);
}

/* Sets NAME=VALUE in ENV, replacing an earlier value (a later line of a .env file wins). */
void spec__env_set(struct spec__env *env, const char *name, const char *value)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->kv[i], name, len) == 0 && env->kv[i][len] == '=') {
            free(env->kv[i]);
            env->kv[i] = stk_xasprintf("%s=%s", name, value);
            return;
        }
    spec__env_set_default(env, name, value);
}

int spec__dotenv_parse(const char *file, const char *data, const struct spec__env *lookup_env,
                       struct spec__env *out, struct stk_diag *diag)
{
    struct spec__env vars = {0};
    const char *p = data;
    const char *line_start = data;
    int line = 1;
    int ret = 0;

    if (strncmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (*p) {
        const char *eol, *k, *kend, *v;
        int key_line = line;
        _cleanup_free_ char *key = NULL;
        char *value = NULL;
        int expand = 1;
        int colon_col = 0; /* a "KEY:value" separator, written without a space after it */

        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
        if (*p == '\n') {
            p++;
            line++;
            line_start = p;
            continue;
        }
        if (*p == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (!*p)
            break;
        if (strncmp(p, "export ", 7) == 0)
            p += 7;
        while (*p == ' ' || *p == '\t')
            p++;
        k = p;
        while (*p && *p != '=' && *p != ':' && *p != '\n' && *p != ' ' && *p != '\t')
            p++;
        kend = p;
        while (*p == ' ' || *p == '\t')
            p++;
        key = stk_xstrndup(k, (size_t)(kend - k));
        {
            /* compose-go dotenv locateKeyName: a name is letters, digits and _.-[] . */
            const char *bad = k;
            while (bad < kend && (isalnum((unsigned char)*bad) || (unsigned char)*bad >= 0x80 ||
                                  strchr("_.-[]", *bad)))
                bad++;
            if (bad < kend) {
                eol = strchr(k, '\n');
                stk_diag_add(diag, STK_DIAG_ERROR, file, key_line, (int)(bad - line_start) + 1,
                             "line %d: unexpected character '%c' in variable name '%.*s'", key_line,
                             *bad, (int)(eol ? eol - k : (long)strlen(k)), k);
                ret = -1;
                p = eol ? eol + 1 : k + strlen(k);
                line++;
                line_start = p;
                continue;
            }
        }
        if (*p != '=' && *p != ':') {
            /* "KEY" alone inherits from the environment when set (compose-go dotenv). */
            const char *inh;
            eol = strchr(p, '\n');
            if (kend == k || (*p && *p != '\n' && *p != '#')) {
                /* compose-go dotenv: "line N: key cannot contain a space". */
                stk_diag_add(diag, STK_DIAG_ERROR, file, key_line, (int)(k - line_start) + 1,
                             "line %d: %s '%.*s'", key_line,
                             kend != k && (*kend == ' ' || *kend == '\t')
                                 ? "key cannot contain a space"
                                 : "unexpected character in variable name",
                             (int)(eol ? eol - k : (long)strlen(k)), k);
                ret = -1;
            } else if ((inh = spec__env_get(lookup_env, key)) != NULL) {
                spec__env_set(&vars, key, inh);
            }
            p = eol ? eol + 1 : p + strlen(p);
            line++;
            line_start = p;
            continue;
        }
        if (*p == ':' && p[1] && p[1] != ' ' && p[1] != '\t' && p[1] != '\n' && p[1] != '\r')
            colon_col = (int)(p - line_start) + 1;
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        v = p;
        if (*v == '\'' || *v == '"') {
            char q = *v;
            const char *e = v + 1;
            while (*e && *e != q) {
                if (*e == '\\' && e[1])
                    e++;
                if (*e == '\n')
                    line++;
                e++;
            }
            if (!*e) {
                stk_diag_add(diag, STK_DIAG_ERROR, file, key_line, (int)(v - line_start) + 1,
                             "unterminated quoted value for '%s'", key);
                ret = -1;
                break;
            }
            if (q == '\'') {
                /* Single quotes are literal, except \' for a quote (godotenv). */
                struct stk_buf b = STK_BUF_INIT;
                for (const char *c = v + 1; c < e; c++) {
                    if (c[0] == '\\' && c[1] == '\'')
                        c++;
                    stk_buf_putc(&b, *c);
                }
                value = stk_buf_detach(&b, NULL);
                expand = 0;
            } else {
                value = dotenv_unquote_double(v + 1, (size_t)(e - v - 1));
            }
            p = e + 1;
            eol = strchr(p, '\n');
            p = eol ? eol + 1 : p + strlen(p);
            line_start = p;
        } else {
            const char *e;
            eol = strchr(v, '\n');
            e = eol ? eol : v + strlen(v);
            /* An inline comment starts at " #". */
            for (const char *c = v; c < e; c++)
                if (*c == '#' && (c == v || c[-1] == ' ' || c[-1] == '\t')) {
                    e = c;
                    break;
                }
            while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                e--;
            value = stk_xstrndup(v, (size_t)(e - v));
            p = eol ? eol + 1 : v + strlen(v);
            line_start = p;
        }
        line++;
        if (expand && strchr(value, '$')) {
            struct spec__env merged = {0};
            char *res = NULL, *msg = NULL;
            for (size_t i = 0; lookup_env && i < lookup_env->n; i++) {
                const char *eq = strchr(lookup_env->kv[i], '=');
                _cleanup_free_ char *n =
                    stk_xstrndup(lookup_env->kv[i], (size_t)(eq - lookup_env->kv[i]));
                spec__env_set_default(&merged, n, eq + 1);
            }
            for (size_t i = 0; i < vars.n; i++) {
                const char *eq = strchr(vars.kv[i], '=');
                _cleanup_free_ char *n = stk_xstrndup(vars.kv[i], (size_t)(eq - vars.kv[i]));
                spec__env_set_default(&merged, n, eq + 1);
            }
            if (spec__interpolate(value, &merged, NULL, NULL, &res, &msg) < 0) {
                stk_diag_add(diag, STK_DIAG_ERROR, file, key_line, 1, "%s", msg);
                free(msg);
                ret = -1;
            } else {
                free(value);
                value = res;
            }
            spec__env_release(&merged);
        }
        if (colon_col) {
            /*
             * "Logging:Level=Debug" is the YAML-like "KEY: value" of compose-go's dotenv:
             * the key is "Logging". .NET users mean the configuration key Logging:Level,
             * which .NET also reads from the variable Logging__Level.
             */
            size_t sub = strcspn(value, "=");
            int dotnet = value[sub] == '=' && sub > 0;
            for (size_t i = 0; dotnet && i < sub; i++)
                if (!isalnum((unsigned char)value[i]) && value[i] != '_' && value[i] != ':')
                    dotnet = 0;
            if (dotnet) {
                struct stk_buf b = STK_BUF_INIT;
                stk_buf_printf(&b, "%s__", key);
                for (size_t i = 0; i < sub; i++)
                    if (value[i] == ':')
                        stk_buf_puts(&b, "__");
                    else
                        stk_buf_putc(&b, value[i]);
                stk_buf_puts(&b, value + sub);
                stk_diag_add(diag, STK_DIAG_WARNING, file, key_line, colon_col,
                             "the ':' after '%s' starts its value, as in Compose: this sets '%s' "
                             "to '%s'; for the .NET setting '%s:%.*s' write '%s'",
                             key, key, value, key, (int)sub, value, b.buf);
                stk_buf_release(&b);
            } else {
                stk_diag_add(diag, STK_DIAG_WARNING, file, key_line, colon_col,
                             "the ':' after '%s' starts its value, as in Compose: this sets '%s' "
                             "to '%s'",
                             key, key, value);
            }
        }
        spec__env_set(&vars, key, value);
        free(value);
    }
    for (size_t i = 0; i < vars.n; i++) {
        const char *eq = strchr(vars.kv[i], '=');
        _cleanup_free_ char *n = stk_xstrndup(vars.kv[i], (size_t)(eq - vars.kv[i]));
        spec__env_set_default(out, n, eq + 1);
    }
    spec__env_release(&vars);
    return ret;
}
