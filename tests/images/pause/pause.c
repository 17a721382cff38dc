/* A minimal pause process for the look-alike nodes' pinned sandbox image:
 * sleeps until it is told to stop. Built statically by tests/images/build.sh. */
#include <signal.h>
#include <unistd.h>

static void stop(int sig)
{
	(void)sig;
	_exit(0);
}

int main(void)
{
	signal(SIGINT, stop);
	signal(SIGTERM, stop);
	for (;;)
		pause();
}
