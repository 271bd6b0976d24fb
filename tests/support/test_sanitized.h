/*
 * TEST_SANITIZED is 1 in builds with AddressSanitizer or ThreadSanitizer
 * (gcc and clang spell the test differently), else 0: tests with big
 * loops run shorter there, where every access costs ~10x.
 */
#ifndef GWLB_TEST_SANITIZED_H
#define GWLB_TEST_SANITIZED_H

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define TEST_SANITIZED 1
#endif
#endif
#ifndef TEST_SANITIZED
#define TEST_SANITIZED 0
#endif

#endif
