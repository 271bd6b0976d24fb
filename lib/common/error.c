/*
 * Error names and messages, generated from the one GWLB_ERROR_MAP table so
 * that every code has both and none can be forgotten.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *gwlb_strerror(int code)
{
    switch (code) {
    case GWLB_OK:
        return "success";
#define GWLB__ERR_MSG(name, value, msg) \
    case GWLB_##name:                   \
        return msg;
        GWLB_ERROR_MAP(GWLB__ERR_MSG)
#undef GWLB__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *gwlb_err_name(int code)
{
    switch (code) {
    case GWLB_OK:
        return "GWLB_OK";
#define GWLB__ERR_NAME(name, value, msg) \
    case GWLB_##name:                    \
        return "GWLB_" #name;
        GWLB_ERROR_MAP(GWLB__ERR_NAME)
#undef GWLB__ERR_NAME
    default:
        return "GWLB_E?";
    }
}

void gwlb_error_detail_init(gwlb_error_detail *detail)
{
    if (detail == NULL)
        return;
    detail->code = 0;
    detail->item = -1;
    detail->other = -1;
    detail->column = -1;
    detail->field = NULL;
    detail->message[0] = '\0';
}

int gwlb__detail(gwlb_error_detail *detail, int code, int32_t item, int32_t other,
                 int32_t column, const char *field, const char *fmt, ...)
{
    if (detail == NULL)
        return code;
    detail->code = code;
    detail->item = item;
    detail->other = other;
    detail->column = column;
    detail->field = field;
    if (fmt == NULL) {
        snprintf(detail->message, sizeof detail->message, "%s", gwlb_strerror(code));
    } else {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail->message, sizeof detail->message, fmt, ap);
        va_end(ap);
    }
    return code;
}
