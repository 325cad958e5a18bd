# The worker's twistd application: its master, name and password come from the settings file the
# devcluster program writes at each start (BUILDBOT_WORKER_SETTINGS, readable by the buildbot user
# only). Logs go to stdout (the container's log).
import json
import os
import sys

from twisted.application import service
from twisted.python.log import FileLogObserver, ILogObserver

from buildbot_worker.bot import Worker

with open(os.environ["BUILDBOT_WORKER_SETTINGS"], encoding="utf-8") as f:
    s = json.load(f)

application = service.Application("buildbot-worker")
application.setComponent(ILogObserver, FileLogObserver(sys.stdout).emit)
w = Worker(
    s["host"],
    s["port"],
    s["name"],
    s["password"],
    s["basedir"],
    keepalive=600,
    umask=0o022,
    maxdelay=30,
    allow_shutdown=None,
    maxRetries=None,
)
w.setServiceParent(application)
