// The exit guard of the detached threads that talk to the job's store (JobAbortWatcher,
// LiveStatus). A thread may still be inside a store get when the process exits, and that get
// verifies its reply with OpenSSL, which cleans up at exit: an atexit handler, registered after
// the store was first used (so it runs first), marks the process as exiting and waits up to 5 s
// for the threads inside enter()/leave() to return.
// Thread: any.
#pragma once

namespace kolo::core {

// Registers the atexit handler once, then counts the calling thread as running.
void enterStoreThread();
// The thread is done with the store.
void leaveStoreThread();
// True once the process exits: a thread must not touch the store any more.
bool storeThreadsExiting();

}  // namespace kolo::core
