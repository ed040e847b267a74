/* sdnotify.h - tells systemd (Type=notify) how the daemon is: "READY=1",
 * "STOPPING=1". Nothing happens without $NOTIFY_SOCKET. */
#ifndef BH_SDNOTIFY_H
#define BH_SDNOTIFY_H

/* Sends msg to $NOTIFY_SOCKET. Returns 0 (also when there is no socket),
 * or -1 when it could not be sent. */
int sd_notify_msg(const char *msg);

#endif
