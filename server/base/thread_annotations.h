// Clang's thread-safety annotations (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html),
// so that lock contracts are written in the code and checked by the compiler: a -Wthread-safety
// build (clang; scripts/fuzz builds one, with these warnings as errors) fails when a member
// marked KP_GUARDED_BY(mutex_) is touched without the lock, or a function marked
// KP_REQUIRES(mutex_) is called without it. Other compilers ignore them.
#pragma once

#if defined(__clang__)
#define KP_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define KP_THREAD_ANNOTATION(x)
#endif

#define KP_CAPABILITY(name) KP_THREAD_ANNOTATION(capability(name))
#define KP_SCOPED_CAPABILITY KP_THREAD_ANNOTATION(scoped_lockable)
#define KP_GUARDED_BY(x) KP_THREAD_ANNOTATION(guarded_by(x))
#define KP_PT_GUARDED_BY(x) KP_THREAD_ANNOTATION(pt_guarded_by(x))
#define KP_REQUIRES(...) KP_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define KP_EXCLUDES(...) KP_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define KP_ACQUIRE(...) KP_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define KP_RELEASE(...) KP_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define KP_TRY_ACQUIRE(...) KP_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define KP_ASSERT_CAPABILITY(x) KP_THREAD_ANNOTATION(assert_capability(x))
#define KP_RETURN_CAPABILITY(x) KP_THREAD_ANNOTATION(lock_returned(x))
#define KP_NO_THREAD_SAFETY_ANALYSIS KP_THREAD_ANNOTATION(no_thread_safety_analysis)
