/* changeq.c - see changeq.h. A mutex, two condition variables and an eventfd that
 * mirrors "not empty" for event loops. */
#include "event/changeq.h"
#include "util/util.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct changeq {
  pthread_mutex_t lock;
  pthread_cond_t not_full, not_empty;
  struct change *head, *tail;
  size_t n, bytes, max_n, max_bytes;
  struct change *garbage; /* consumed events the producer frees (changeq_recycle) */
  struct change *garbage_tail; /* the last of them */
  int closed;
  int efd;
  int fd_used;       /* someone waits on efd: keep it in step */
  int pop_waiters;   /* consumers blocked in a pop */
  int push_waiters;  /* producers blocked on a full queue */
  unsigned long long blocked_ms;
};

struct changeq *changeq_new(size_t max_events, size_t max_bytes)
{
  struct changeq *q = xcalloc(1, sizeof *q);
  pthread_mutex_init(&q->lock, NULL);
  pthread_cond_init(&q->not_full, NULL);
  pthread_cond_init(&q->not_empty, NULL);
  q->max_n = max_events ? max_events : 1;
  q->max_bytes = max_bytes ? max_bytes : SIZE_MAX;
  q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  return q;
}

static void free_list(struct change *e)
{
  while (e) {
    struct change *next = e->next;
    change_free(e);
    e = next;
  }
}

void changeq_free(struct changeq *q)
{
  if (!q) return;
  free_list(q->head);
  free_list(q->garbage);
  if (q->efd >= 0) close(q->efd);
  pthread_cond_destroy(&q->not_full);
  pthread_cond_destroy(&q->not_empty);
  pthread_mutex_destroy(&q->lock);
  free(q);
}

/* Wakes the descriptor's watcher; the caller has read fd_used under the
 * lock (the consumer sets it while the producer runs). */
static void signal_fd(struct changeq *q)
{
  if (q->efd >= 0) bh_wake(q->efd);
}

static void drain_fd(struct changeq *q)
{
  if (q->efd >= 0 && q->fd_used) bh_wake_drain(q->efd);
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void changeq_recycle(struct changeq *q, struct change *head, struct change *tail)
{
  if (!head) return;
  pthread_mutex_lock(&q->lock);
  if (!q->garbage) q->garbage_tail = tail;
  tail->next = q->garbage;
  q->garbage = head;
  pthread_mutex_unlock(&q->lock);
}

/* No room for n more events of sz bytes (a batch gets through alone when
 * the queue is empty, however large). */
static int no_room(const struct changeq *q, size_t n, size_t sz)
{
  return q->n > 0 && (q->n + n > q->max_n || q->bytes + sz > q->max_bytes);
}

int changeq_push(struct changeq *q, struct change *e)
{
  e->next = NULL;
  return changeq_push_list(q, e, e, 1, change_size(e));
}

int changeq_push_list(struct changeq *q, struct change *head, struct change *tail, size_t n, size_t sz)
{
  struct change *garbage = NULL, *garbage_tail;
  int rc = changeq_push_list_reclaim(q, head, tail, n, sz, &garbage, &garbage_tail);
  free_list(garbage);
  return rc;
}

int changeq_push_list_reclaim(struct changeq *q, struct change *head, struct change *tail, size_t n, size_t sz,
                              struct change **recycled, struct change **recycled_tail)
{
  *recycled = *recycled_tail = NULL;
  pthread_mutex_lock(&q->lock);
  if (!q->closed && no_room(q, n, sz)) {
    long long t0 = now_ms();
    q->push_waiters++;
    while (!q->closed && no_room(q, n, sz)) pthread_cond_wait(&q->not_full, &q->lock);
    q->push_waiters--;
    q->blocked_ms += (unsigned long long)(now_ms() - t0);
  }
  if (q->closed) {
    pthread_mutex_unlock(&q->lock);
    free_list(head);
    return -1;
  }
  tail->next = NULL;
  if (q->tail) q->tail->next = head;
  else q->head = head;
  q->tail = tail;
  q->n += n;
  q->bytes += sz;
  int wake = q->n == n && q->fd_used; /* it was empty */
  *recycled = q->garbage;
  *recycled_tail = q->garbage ? q->garbage_tail : NULL;
  q->garbage = q->garbage_tail = NULL;
  if (q->pop_waiters) pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->lock);
  if (wake) signal_fd(q);
  return 0;
}

static struct change *take(struct changeq *q)
{
  struct change *e = q->head;
  q->head = e->next;
  if (!q->head) q->tail = NULL;
  q->n--;
  q->bytes -= change_size(e);
  e->next = NULL;
  if (q->push_waiters) pthread_cond_signal(&q->not_full);
  return e;
}

struct change *changeq_pop(struct changeq *q)
{
  pthread_mutex_lock(&q->lock);
  q->pop_waiters++;
  while (!q->head && !q->closed) pthread_cond_wait(&q->not_empty, &q->lock);
  q->pop_waiters--;
  struct change *e = q->head ? take(q) : NULL;
  if (!q->head && !q->closed) drain_fd(q);
  pthread_mutex_unlock(&q->lock);
  return e;
}

struct change *changeq_trypop(struct changeq *q)
{
  pthread_mutex_lock(&q->lock);
  struct change *e = q->head ? take(q) : NULL;
  if (!q->head && !q->closed) drain_fd(q);
  pthread_mutex_unlock(&q->lock);
  return e;
}

void changeq_close(struct changeq *q)
{
  pthread_mutex_lock(&q->lock);
  q->closed = 1;
  pthread_cond_broadcast(&q->not_full);
  pthread_cond_broadcast(&q->not_empty);
  int wake = q->fd_used;
  pthread_mutex_unlock(&q->lock);
  if (wake) signal_fd(q);
}

struct change *changeq_pop_all(struct changeq *q, int timeout_ms)
{
  pthread_mutex_lock(&q->lock);
  if (!q->head && !q->closed && timeout_ms != 0) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    q->pop_waiters++;
    while (!q->head && !q->closed) {
      if (timeout_ms < 0) pthread_cond_wait(&q->not_empty, &q->lock);
      else if (pthread_cond_timedwait(&q->not_empty, &q->lock, &until)) break;
    }
    q->pop_waiters--;
  }
  struct change *list = q->head;
  q->head = q->tail = NULL;
  q->n = 0;
  q->bytes = 0;
  if (list && q->push_waiters) pthread_cond_broadcast(&q->not_full);
  drain_fd(q);
  pthread_mutex_unlock(&q->lock);
  return list;
}

int changeq_closed(struct changeq *q)
{
  pthread_mutex_lock(&q->lock);
  int c = q->closed && !q->head;
  pthread_mutex_unlock(&q->lock);
  return c;
}

int changeq_fd(struct changeq *q)
{
  pthread_mutex_lock(&q->lock);
  q->fd_used = 1;
  if (q->head || q->closed) signal_fd(q); /* closed before anyone watched: say it now */
  pthread_mutex_unlock(&q->lock);
  return q->efd;
}

size_t changeq_depth(struct changeq *q, size_t *bytes, unsigned long long *blocked_ms)
{
  pthread_mutex_lock(&q->lock);
  size_t n = q->n;
  if (bytes) *bytes = q->bytes;
  if (blocked_ms) *blocked_ms = q->blocked_ms;
  pthread_mutex_unlock(&q->lock);
  return n;
}
