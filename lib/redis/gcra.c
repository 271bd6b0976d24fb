/*
 * The GCRA Lua script and its commands: the decision of gwlb_gcra_decide
 * (redis-cell's CL.THROTTLE semantics) taken atomically inside Redis, so
 * every gateway of a fleet shares one bucket per key.
 *
 * Key idea: the key's value is the TAT as decimal nanoseconds since the
 * Unix epoch (the same representation redis-cell stores). Such numbers
 * exceed 2^53, the exact range of Lua's doubles, so the script never holds
 * an absolute time in one number: it splits "1732712345123456789" into
 * seconds and nanoseconds, works on differences from now (durations, which
 * the encoder keeps below 2^53 ns, about 104 days) and joins the parts back
 * into a string. Integer divisions are corrected after the floating divide,
 * so every result is the exact integer the C code computes.
 *
 * The key lives as long as it matters: SET ... PX (new TAT - now, rounded
 * up to a millisecond) + 1 s. Once now passes the TAT, a stored TAT and a
 * missing key mean the same thing (a full bucket), so the extra second
 * changes no decision; it keeps a key from expiring early when Redis's own
 * clock (which runs the TTL) is ahead of the hosts' clock by up to 1 s.
 */
#include <string.h>

#include "gwlb/redis.h"
#include "internal.h"
#include "redis_internal.h"

/*
 * The head both scripts share: split() turns a decimal ns count into
 * (seconds, nanoseconds) so Lua's doubles stay exact, idiv() is an exact
 * floor division, and now comes from ARGV[1] or Redis TIME.
 */
/* clang-format off */
#define GCRA_SCRIPT_HEAD \
    "local function split(v)\n" \
    "  local n = string.len(v)\n" \
    "  if n <= 9 then return 0, tonumber(v) end\n" \
    "  return tonumber(string.sub(v, 1, n - 9)), tonumber(string.sub(v, n - 8))\n" \
    "end\n" \
    "local function idiv(a, b)\n" \
    "  local q = math.floor(a / b)\n" \
    "  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end\n" \
    "  return q\n" \
    "end\n" \
    "local now_s, now_n\n" \
    "if ARGV[1] == '' then\n" \
    "  local t = redis.call('TIME')\n" \
    "  now_s, now_n = tonumber(t[1]), tonumber(t[2]) * 1000\n" \
    "else\n" \
    "  now_s, now_n = split(ARGV[1])\n" \
    "end\n"
/* clang-format on */

/* clang-format off */
static const char gcra_script[] =
"-- libgwlb GCRA v1: gwlb_gcra_decide() atomically in Redis\n"
"-- KEYS[1] the bucket; its value is the TAT in decimal ns since the epoch\n"
"-- ARGV now_ns ('' = Redis TIME), emission_ns, tolerance_ns, cost,\n"
"--      charge ('1' = add cost without a limit check)\n"
"-- reply {allowed, limit, remaining, reset_after_ns, retry_after_ns, tat}\n"
GCRA_SCRIPT_HEAD
"local t = tonumber(ARGV[2])\n"
"local dvt = tonumber(ARGV[3])\n"
"local cost = tonumber(ARGV[4])\n"
"local limit = dvt / t\n"
"local stored = redis.call('GET', KEYS[1])\n"
"local tat = stored or '0'\n"
"local base = 0\n"
"if stored then\n"
"  local s, n = split(stored)\n"
"  base = (s - now_s) * 1e9 + (n - now_n)\n"
"  if base < 0 then base = 0 end\n"
"end\n"
"local allowed, reset, retry = 1, 0, -1\n"
"if ARGV[5] ~= '1' and (cost > limit or base + cost * t > dvt) then\n"
"  allowed, reset = 0, base\n"
"  if cost <= limit then retry = base + cost * t - dvt end\n"
"else\n"
"  reset = base + cost * t\n"
"  if cost > 0 then\n"
"    local frac = math.fmod(reset, 1e9)\n"
"    local s, n = now_s + (reset - frac) / 1e9, now_n + frac\n"
"    if n >= 1e9 then s, n = s + 1, n - 1e9 end\n"
"    if s > 0 then tat = string.format('%d%09d', s, n) else tat = string.format('%d', n) end\n"
"    redis.call('SET', KEYS[1], tat, 'PX', idiv(reset + 999999, 1e6) + 1000)\n"
"  end\n"
"end\n"
"local remaining = 0\n"
"if reset < dvt then\n"
"  if t < 1000 then remaining = idiv(dvt - reset, t)\n"
"  else remaining = idiv(idiv(dvt - reset, 1000), idiv(t, 1000)) end\n"
"end\n"
"return {allowed, limit, remaining, reset, retry, tat}\n";
/* clang-format on */

/*
 * Several limits of one request, all-or-nothing: gwlb_limiter_allow_all()
 * for GCRA limits. The script decides every key before it writes any, so
 * a rejection needs no refund; a key named twice sees its first update.
 */
/* clang-format off */
static const char gcra_all_script[] =
"-- libgwlb GCRA all-or-nothing v1: gwlb_limiter_allow_all() atomically in Redis\n"
"-- KEYS[1..n] the buckets (in Redis Cluster: one slot, use one hash tag)\n"
"-- ARGV now_ns ('' = Redis TIME), cost, then emission_ns, tolerance_ns per key\n"
"-- reply {allowed, limit, remaining, reset_after_ns, retry_after_ns, tat, failed_index}\n"
GCRA_SCRIPT_HEAD
"local cost = tonumber(ARGV[2])\n"
"local written, writes, best = {}, {}, nil\n"
"for i = 1, #KEYS do\n"
"  local t = tonumber(ARGV[2 * i + 1])\n"
"  local dvt = tonumber(ARGV[2 * i + 2])\n"
"  local limit = dvt / t\n"
"  local stored = written[KEYS[i]]\n"
"  if stored == nil then stored = redis.call('GET', KEYS[i]) end\n"
"  local tat = stored or '0'\n"
"  local base = 0\n"
"  if stored then\n"
"    local s, n = split(stored)\n"
"    base = (s - now_s) * 1e9 + (n - now_n)\n"
"    if base < 0 then base = 0 end\n"
"  end\n"
"  local allowed, reset, retry = 1, 0, -1\n"
"  if cost > limit or base + cost * t > dvt then\n"
"    allowed, reset = 0, base\n"
"    if cost <= limit then retry = base + cost * t - dvt end\n"
"  else\n"
"    reset = base + cost * t\n"
"    if cost > 0 then\n"
"      local frac = math.fmod(reset, 1e9)\n"
"      local s, n = now_s + (reset - frac) / 1e9, now_n + frac\n"
"      if n >= 1e9 then s, n = s + 1, n - 1e9 end\n"
"      if s > 0 then tat = string.format('%d%09d', s, n) else tat = string.format('%d', n) end\n"
"      written[KEYS[i]] = tat\n"
"      writes[#writes + 1] = {KEYS[i], tat, idiv(reset + 999999, 1e6) + 1000}\n"
"    end\n"
"  end\n"
"  local remaining = 0\n"
"  if reset < dvt then\n"
"    if t < 1000 then remaining = idiv(dvt - reset, t)\n"
"    else remaining = idiv(idiv(dvt - reset, 1000), idiv(t, 1000)) end\n"
"  end\n"
"  local r = {allowed, limit, remaining, reset, retry, tat, -1}\n"
"  if allowed == 0 then r[7] = i - 1 return r end\n"
"  if best == nil or remaining < best[3] then best = r end\n"
"end\n"
"for _, w in ipairs(writes) do redis.call('SET', w[1], w[2], 'PX', w[3]) end\n"
"return best\n";
/* clang-format on */

const char *gwlb_redis_gcra_all_script(size_t *len)
{
    if (len != NULL)
        *len = sizeof gcra_all_script - 1;
    return gcra_all_script;
}

int gwlb_redis_encode_script_load_all(uint8_t *out, size_t cap, size_t *written)
{
    const void *argv[3] = {"SCRIPT", "LOAD", gcra_all_script};
    size_t lens[3] = {6, 4, sizeof gcra_all_script - 1};
    return gwlb_redis_encode_command(out, cap, written, 3, argv, lens);
}

const char *gwlb_redis_gcra_script(size_t *len)
{
    if (len != NULL)
        *len = sizeof gcra_script - 1;
    return gcra_script;
}

const char *gwlb_redis_gcra_sha1(void)
{
    return GWLB_REDIS_GCRA_SHA1;
}

int gwlb_redis_encode_script_load(uint8_t *out, size_t cap, size_t *written)
{
    const void *argv[3] = {"SCRIPT", "LOAD", gcra_script};
    size_t lens[3] = {6, 4, sizeof gcra_script - 1};
    return gwlb_redis_encode_command(out, cap, written, 3, argv, lens);
}

#define u64_text gwlb__redis_u64_text

#define EXACT_MAX (UINT64_C(1) << 53) /* Lua numbers are exact below this */

int gwlb_redis_encode_gcra(uint8_t *out, size_t cap, size_t *written,
                           const gwlb_gcra_config *config, const void *key, size_t key_len,
                           uint64_t cost, uint64_t now, uint32_t flags)
{
    if (written != NULL)
        *written = 0;
    if (out == NULL || written == NULL || config == NULL || (key == NULL && key_len != 0) ||
        key_len == 0 || config->emission_ns == 0)
        return GWLB_EINVAL;
    if (flags & ~(uint32_t)(GWLB_REDIS_GCRA_EVAL | GWLB_REDIS_GCRA_SERVER_TIME |
                            GWLB_REDIS_GCRA_CHARGE))
        return GWLB_EINVAL;
    /* Durations must stay exact in Lua: DVT and the largest TAT offset. */
    uint64_t t = config->emission_ns, dvt = config->tolerance_ns;
    if (dvt > EXACT_MAX || dvt < t || dvt % t != 0)
        return GWLB_ERANGE;
    /* A charge adds cost * T unchecked: keep TAT - now below 2^53. */
    if ((flags & GWLB_REDIS_GCRA_CHARGE) && cost > (EXACT_MAX - dvt) / t)
        return GWLB_ERANGE;

    char now_txt[20], t_txt[20], dvt_txt[20], cost_txt[20];
    const int eval = (flags & GWLB_REDIS_GCRA_EVAL) != 0;
    const void *argv[9];
    size_t lens[9];
    argv[0] = eval ? "EVAL" : "EVALSHA";
    lens[0] = eval ? 4 : 7;
    argv[1] = eval ? gcra_script : GWLB_REDIS_GCRA_SHA1;
    lens[1] = eval ? sizeof gcra_script - 1 : 40;
    argv[2] = "1";
    lens[2] = 1;
    argv[3] = key;
    lens[3] = key_len;
    argv[4] = now_txt;
    lens[4] = (flags & GWLB_REDIS_GCRA_SERVER_TIME) ? 0 : u64_text(now_txt, now);
    argv[5] = t_txt;
    lens[5] = u64_text(t_txt, t);
    argv[6] = dvt_txt;
    lens[6] = u64_text(dvt_txt, dvt);
    argv[7] = cost_txt;
    lens[7] = u64_text(cost_txt, cost);
    argv[8] = (flags & GWLB_REDIS_GCRA_CHARGE) ? "1" : "0";
    lens[8] = 1;
    return gwlb_redis_encode_command(out, cap, written, 9, argv, lens);
}

int gwlb_redis_encode_gcra_batch(uint8_t *out, size_t cap, size_t *written,
                                 const gwlb_redis_gcra_call *calls, size_t n, uint64_t now,
                                 uint32_t flags)
{
    if (written != NULL)
        *written = 0;
    if (out == NULL || written == NULL || calls == NULL || n == 0)
        return GWLB_EINVAL;
    size_t used = 0, need = 0;
    int short_of_space = 0;
    for (size_t i = 0; i < n; i++) {
        size_t w = 0;
        int rc = gwlb_redis_encode_gcra(out + (short_of_space ? 0 : used),
                                        short_of_space ? 0 : cap - used, &w, calls[i].config,
                                        calls[i].key, calls[i].key_len, calls[i].cost, now,
                                        flags | calls[i].flags);
        if (rc == GWLB_ENOSPC) {
            short_of_space = 1;
        } else if (rc != GWLB_OK) {
            return rc;
        } else {
            used += w;
        }
        if (w > SIZE_MAX - need)
            return GWLB_EOVERFLOW;
        need += w;
    }
    if (short_of_space) {
        *written = need;
        return GWLB_ENOSPC;
    }
    *written = used;
    return GWLB_OK;
}

int gwlb_redis_encode_gcra_all(uint8_t *out, size_t cap, size_t *written,
                               const gwlb_redis_gcra_key *keys, size_t n, uint64_t cost,
                               uint64_t now, uint32_t flags)
{
    if (written != NULL)
        *written = 0;
    if (out == NULL || written == NULL || keys == NULL)
        return GWLB_EINVAL;
    if (n == 0)
        return GWLB_EMPTY;
    if (n > GWLB_REDIS_GCRA_ALL_MAX)
        return GWLB_ERANGE;
    if (flags & ~(uint32_t)(GWLB_REDIS_GCRA_EVAL | GWLB_REDIS_GCRA_SERVER_TIME))
        return GWLB_EINVAL;
    for (size_t i = 0; i < n; i++) {
        const gwlb_gcra_config *c = keys[i].config;
        if (c == NULL || keys[i].key == NULL || keys[i].key_len == 0 || c->emission_ns == 0)
            return GWLB_EINVAL;
        if (c->tolerance_ns > EXACT_MAX || c->tolerance_ns < c->emission_ns ||
            c->tolerance_ns % c->emission_ns != 0)
            return GWLB_ERANGE;
    }
    enum { MAXARGS = 5 + 3 * GWLB_REDIS_GCRA_ALL_MAX };
    const void *argv[MAXARGS];
    size_t lens[MAXARGS];
    char num[2 + 2 * GWLB_REDIS_GCRA_ALL_MAX][20];
    char count[20];
    const int eval = (flags & GWLB_REDIS_GCRA_EVAL) != 0;
    size_t a = 0;
    argv[a] = eval ? "EVAL" : "EVALSHA";
    lens[a++] = eval ? 4 : 7;
    argv[a] = eval ? gcra_all_script : GWLB_REDIS_GCRA_ALL_SHA1;
    lens[a++] = eval ? sizeof gcra_all_script - 1 : 40;
    argv[a] = count;
    lens[a++] = u64_text(count, n);
    for (size_t i = 0; i < n; i++) {
        argv[a] = keys[i].key;
        lens[a++] = keys[i].key_len;
    }
    argv[a] = num[0];
    lens[a++] = (flags & GWLB_REDIS_GCRA_SERVER_TIME) ? 0 : u64_text(num[0], now);
    argv[a] = num[1];
    lens[a++] = u64_text(num[1], cost);
    for (size_t i = 0; i < n; i++) {
        argv[a] = num[2 + 2 * i];
        lens[a++] = u64_text(num[2 + 2 * i], keys[i].config->emission_ns);
        argv[a] = num[3 + 2 * i];
        lens[a++] = u64_text(num[3 + 2 * i], keys[i].config->tolerance_ns);
    }
    return gwlb_redis_encode_command(out, cap, written, (uint32_t)a, argv, lens);
}

/* ---- decoding ----------------------------------------------------------- */

#define DECODE_VALUES 64

static int uint_of(const gwlb_redis_value *v, int64_t *out)
{
    if (v->type != GWLB_REDIS_INTEGER)
        return GWLB_EPROTO;
    *out = v->integer;
    return GWLB_OK;
}

/* The TAT: decimal digits (bulk string), or an integer for a small value. */
static int tat_of(const uint8_t *buf, const gwlb_redis_value *v, uint64_t *out)
{
    if (v->type == GWLB_REDIS_INTEGER && v->integer >= 0) {
        *out = (uint64_t)v->integer;
        return GWLB_OK;
    }
    if (v->type != GWLB_REDIS_BULK_STRING || v->length == 0 || v->length > 20)
        return GWLB_EPROTO;
    uint64_t x = 0;
    for (uint32_t i = 0; i < v->length; i++) {
        unsigned d = (unsigned)buf[v->offset + i] - '0';
        if (d > 9 || (i >= 19 && x > (UINT64_MAX - d) / 10))
            return GWLB_EPROTO;
        x = x * 10 + d;
    }
    *out = x;
    return GWLB_OK;
}

static int starts_with(const uint8_t *buf, const gwlb_redis_value *v, const char *prefix)
{
    size_t n = strlen(prefix);
    return v->length >= n && memcmp(buf + v->offset, prefix, n) == 0;
}

/* One script reply: 6 fields, or 7 with the failed index (the all-or-nothing script). */
static int decode_answer(const uint8_t *buf, size_t len, size_t *consumed,
                         gwlb_redis_gcra_answer *answer, int32_t *index)
{
    if (consumed != NULL)
        *consumed = 0;
    if ((buf == NULL && len != 0) || consumed == NULL || answer == NULL)
        return GWLB_EINVAL;
    gwlb_redis_value v[DECODE_VALUES];
    gwlb_redis_reply r;
    size_t off = 0;
    for (;;) {
        int rc = gwlb_redis_parse(buf + off, len - off, v, DECODE_VALUES, &r);
        if (rc != GWLB_OK)
            return rc;
        if (v[r.root].type != GWLB_REDIS_PUSH)
            break;
        off += r.length; /* out-of-band push on this connection: skip it */
        *consumed = off;
    }
    const uint8_t *rb = buf + off;
    *consumed = off + r.length;
    memset(answer, 0, sizeof *answer);
    const gwlb_redis_value *root = &v[r.root];
    if (root->type == GWLB_REDIS_ERROR || root->type == GWLB_REDIS_BLOB_ERROR) {
        answer->status = starts_with(rb, root, "NOSCRIPT") ? GWLB_ENOENT : GWLB_EBUSY;
        return answer->status;
    }
    uint32_t fields = index != NULL ? 7 : 6;
    if (root->type != GWLB_REDIS_ARRAY || root->length != fields ||
        root->next != r.root + 1 + fields)
        return answer->status = GWLB_EPROTO;
    const gwlb_redis_value *e = root + 1;
    int64_t allowed, limit, remaining, reset, retry, failed = -1;
    if (uint_of(&e[0], &allowed) || uint_of(&e[1], &limit) || uint_of(&e[2], &remaining) ||
        uint_of(&e[3], &reset) || uint_of(&e[4], &retry) || tat_of(rb, &e[5], &answer->tat) ||
        (allowed != 0 && allowed != 1) || limit < 1 || remaining < 0 || reset < 0 || retry < -1)
        return answer->status = GWLB_EPROTO;
    if (index != NULL &&
        (uint_of(&e[6], &failed) || failed < -1 || failed >= GWLB_REDIS_GCRA_ALL_MAX ||
         (failed == -1) != (allowed == 1)))
        return answer->status = GWLB_EPROTO;
    answer->result.allowed = (int32_t)allowed;
    answer->result.limit = (uint64_t)limit;
    answer->result.remaining = (uint64_t)remaining;
    answer->result.reset_after_ns = (uint64_t)reset;
    answer->result.retry_after_ns = retry;
    answer->result.delay_ns = 0;
    answer->status = GWLB_OK;
    if (index != NULL)
        *index = (int32_t)failed;
    return GWLB_OK;
}

int gwlb_redis_decode_gcra(const uint8_t *buf, size_t len, size_t *consumed,
                           gwlb_redis_gcra_answer *answer)
{
    return decode_answer(buf, len, consumed, answer, NULL);
}

int gwlb_redis_decode_gcra_all(const uint8_t *buf, size_t len, size_t *consumed,
                               gwlb_redis_gcra_answer *answer, int32_t *failed_index)
{
    if (failed_index == NULL) {
        if (consumed != NULL)
            *consumed = 0;
        return GWLB_EINVAL;
    }
    return decode_answer(buf, len, consumed, answer, failed_index);
}

int gwlb_redis_decode_gcra_batch(const uint8_t *buf, size_t len, size_t *consumed,
                                 gwlb_redis_gcra_answer *answers, size_t n, size_t *decoded)
{
    if (consumed != NULL)
        *consumed = 0;
    if (decoded != NULL)
        *decoded = 0;
    if ((buf == NULL && len != 0) || consumed == NULL || answers == NULL || decoded == NULL)
        return GWLB_EINVAL;
    size_t off = 0, i = 0;
    for (; i < n; i++) {
        size_t c = 0;
        int rc = gwlb_redis_decode_gcra(buf + off, len - off, &c, &answers[i]);
        if (rc == GWLB_EAGAIN)
            break;
        if (rc != GWLB_OK && rc != GWLB_ENOENT && rc != GWLB_EBUSY &&
            !(rc == GWLB_EPROTO && c != 0))
            return rc; /* the stream itself is broken */
        off += c;
        *consumed = off;
        *decoded = i + 1;
    }
    return i == n ? GWLB_OK : GWLB_EAGAIN;
}
