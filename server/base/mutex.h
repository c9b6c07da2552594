// A mutex, its scoped lock and a condition variable that Clang's thread-safety analysis
// understands (std::mutex is not annotated in libstdc++). Same cost as the std types they wrap.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "server/base/thread_annotations.h"

namespace kp::base {

class KP_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() KP_ACQUIRE() { mutex_.lock(); }
  void unlock() KP_RELEASE() { mutex_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mutex_;
};

// Holds `mutex` for its scope; unlock()/lock() release and retake it inside the scope.
class KP_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) KP_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
  ~MutexLock() KP_RELEASE() {
    if (held_) mutex_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() KP_RELEASE() {
    mutex_.unlock();
    held_ = false;
  }
  void lock() KP_ACQUIRE() {
    mutex_.lock();
    held_ = true;
  }

 private:
  Mutex& mutex_;
  bool held_ = true;
};

// A condition variable waited on with a Mutex held (released during the wait). Waits may wake
// spuriously: callers loop on their condition, which the analysis checks under the lock
// (predicate lambdas would hide it).
class CondVar {
 public:
  void wait(Mutex& mutex) KP_REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    condition_.wait(lock);
    lock.release();
  }
  // False once `deadline` has passed.
  template <typename Clock, typename Duration>
  bool waitUntil(Mutex& mutex, std::chrono::time_point<Clock, Duration> deadline)
      KP_REQUIRES(mutex) {
    std::unique_lock<std::mutex> lock(mutex.mutex_, std::adopt_lock);
    const bool inTime = condition_.wait_until(lock, deadline) == std::cv_status::no_timeout;
    lock.release();
    return inTime;
  }
  template <typename Rep, typename Period>
  bool waitFor(Mutex& mutex, std::chrono::duration<Rep, Period> timeout) KP_REQUIRES(mutex) {
    return waitUntil(mutex, std::chrono::steady_clock::now() + timeout);
  }
  void notifyOne() { condition_.notify_one(); }
  void notifyAll() { condition_.notify_all(); }

 private:
  std::condition_variable condition_;
};

}  // namespace kp::base
