/* fuzz_events.h - the fixed events fuzz_expr and fuzz_tmpl evaluate and
 * render their inputs against: an update with values of every JSON kind
 * (big and negative integers, exact decimals, doubles, lists, objects,
 * NULL, non-ASCII text), an insert, a delete and a statement. Built once,
 * freed never (a process lives for one campaign). */
#ifndef BH_FUZZ_EVENTS_H
#define BH_FUZZ_EVENTS_H

#include "event/change.h"
#include "event/change_json.h"

#include <stdlib.h>

static const char *const fuzz_event_text[] = {
    "{\"type\":\"update\",\"schema\":\"shop\",\"table\":\"orders\",\"ts\":\"2024-01-02T03:04:05Z\","
    "\"position\":{\"file\":\"binlog.000042\",\"pos\":1234,\"gtid\":\"0-1-9876\"},\"tx\":{\"index\":3},"
    "\"key\":{\"id\":1},\"before\":{\"id\":1,\"status\":\"new\",\"total\":\"99.90\",\"qty\":3,\"note\":null,"
    "\"name\":\"\xc3\x89mile\"},\"after\":{\"id\":1,\"status\":\"paid\",\"total\":\"120.00\",\"qty\":3,"
    "\"note\":null,\"name\":\"\xc3\x89mile\",\"big\":18446744073709551615,\"neg\":-5,"
    "\"price\":\"99.999999999999999999\",\"ratio\":0.25,\"dbl\":2.5e0,\"tags\":[\"vip\",\"eu\"],"
    "\"doc\":{\"a\":[1,{\"b\":null}]},\"flag\":true,\"day\":\"2024-05-06\",\"odd col\":\"x\","
    "\"greek\":\"\xce\xa3\xcf\x89\",\"empty\":\"\",\"huge\":123456789012345678901234567890.5}}",
    "{\"type\":\"insert\",\"schema\":\"shop\",\"table\":\"orders\",\"key\":{\"id\":2},"
    "\"after\":{\"id\":2,\"status\":\"new\",\"total\":\"5.00\"}}",
    "{\"type\":\"delete\",\"schema\":\"shop\",\"table\":\"orders\",\"key\":{\"id\":3},"
    "\"before\":{\"id\":3,\"status\":\"paid\"}}",
    "{\"type\":\"statement\",\"schema\":\"shop\",\"sql\":\"DROP TABLE orders\",\"kind\":\"ddl\","
    "\"thread_id\":12,\"user\":\"app@10.0.0.5\"}",
};

#define FUZZ_NEVENTS (sizeof fuzz_event_text / sizeof *fuzz_event_text)

/* The events, built at the first call; aborts when one cannot be (the
 * target is then broken, not the code under test). */
static struct change **fuzz_events(void)
{
  static struct change *ev[FUZZ_NEVENTS];
  if (!ev[0])
    for (size_t i = 0; i < FUZZ_NEVENTS; i++) {
      char err[512];
      const char *t = fuzz_event_text[i];
      size_t n = 0;
      while (t[n]) n++;
      if (!(ev[i] = change_from_json(t, n, err, sizeof err))) abort();
    }
  return ev;
}

#endif
