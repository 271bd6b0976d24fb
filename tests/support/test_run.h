/*
 * The end of every Check test program: run the suite, print Check's
 * summary, and exit non-zero when any test failed.
 */
#ifndef GWLB_TEST_RUN_H
#define GWLB_TEST_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
