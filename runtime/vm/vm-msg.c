/*
 * vm-msg.c - the host side's decoding of what the guest agent sends (see
 * vm-internal.h). Every field is checked for type and range: the guest is
 * untrusted.
 */
#include "runtime/vm/vm-internal.h"

#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/stk-alloc.h"

#define MSG_PROCS_MAX 4096
#define MSG_TEXT_MAX 1024

void rt__vm_msg_release(struct rt__vm_msg *m)
{
    if (!m)
        return;
    free(m->error);
    for (size_t i = 0; i < m->n_procs; i++)
        free(m->procs[i].cmd);
    free(m->procs);
    memset(m, 0, sizeof(*m));
}

/* A copy of S of at most MSG_TEXT_MAX bytes with control characters as '?'. */
static char *clean_text(const char *s)
{
    size_t n = strlen(s);
    char *c;

    if (n > MSG_TEXT_MAX)
        n = MSG_TEXT_MAX;
    c = stk_xmalloc(n + 1);
    for (size_t i = 0; i < n; i++)
        c[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    c[n] = '\0';
    return c;
}

static int get_int(json_t *o, const char *key, json_int_t lo, json_int_t hi, json_int_t *ret)
{
    json_t *v = json_object_get(o, key);

    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -1;
    *ret = json_integer_value(v);
    return 0;
}

int rt__vm_msg_decode(const struct rt__vm_frame *f, struct rt__vm_msg *ret, struct stk_err *err)
{
    struct rt__vm_msg m;
    json_t *j = NULL, *arr, *p;
    json_int_t v;
    size_t i;
    int r = 0;

    memset(&m, 0, sizeof(m));
    m.type = f->type;
    m.session = f->session;
    if (f->type == RT_VM_OUT || f->type == RT_VM_ERR)
        goto done;
    j = json_loadb((const char *)f->payload, f->len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        r = stk_err_set(err, STK_ERUNTIME, 0, "guest agent: malformed '%c' message", f->type);
        goto out;
    }
    switch (f->type) {
    case RT_VM_STARTED:
        if (get_int(j, "pid", 1, INT_MAX, &v) < 0) {
            r = stk_err_set(err, STK_ERUNTIME, 0, "guest agent: started without a pid");
            goto out;
        }
        m.pid = (int)v;
        break;
    case RT_VM_EXIT:
        if (get_int(j, "status", 0, 255, &v) < 0) {
            r = stk_err_set(err, STK_ERUNTIME, 0, "guest agent: exit without a status in 0..255");
            goto out;
        }
        m.status = (int)v;
        break;
    case RT_VM_FAIL:
        if (!json_is_string(json_object_get(j, "error"))) {
            r = stk_err_set(err, STK_ERUNTIME, 0, "guest agent: failure without an error");
            goto out;
        }
        m.error = clean_text(json_string_value(json_object_get(j, "error")));
        break;
    case RT_VM_TOP:
        arr = json_object_get(j, "processes");
        if (!json_is_array(arr) || json_array_size(arr) > MSG_PROCS_MAX) {
            r = stk_err_set(err, STK_ERUNTIME, 0, "guest agent: malformed process list");
            goto out;
        }
        m.procs = stk_xcalloc(json_array_size(arr) + 1, sizeof(*m.procs));
        json_array_foreach(arr, i, p)
        {
            json_int_t pid, uid;
            json_t *cmd = json_object_get(p, "cmd");
            if (!json_is_object(p) || get_int(p, "pid", 1, INT_MAX, &pid) < 0 ||
                get_int(p, "uid", 0, UINT32_MAX, &uid) < 0 || !json_is_string(cmd)) {
                r = stk_err_set(err, STK_ERUNTIME, 0, "guest agent: malformed process entry");
                goto out;
            }
            m.procs[m.n_procs].pid = (int)pid;
            m.procs[m.n_procs].uid = (uint32_t)uid;
            m.procs[m.n_procs].cmd = clean_text(json_string_value(cmd));
            m.n_procs++;
        }
        break;
    default:
        r = stk_err_set(err, STK_ERUNTIME, 0, "guest agent: unexpected '%c' message", f->type);
        goto out;
    }
done:
    *ret = m;
    memset(&m, 0, sizeof(m));
out:
    rt__vm_msg_release(&m);
    json_decref(j);
    return r;
}
