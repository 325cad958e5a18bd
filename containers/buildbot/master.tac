# The master's twistd application, copied into its base directory at each start. Its logs go to
# stdout (the container's log); the configuration file is the image's, not the volume's.
import os
import sys

from twisted.application import service
from twisted.python.log import FileLogObserver, ILogObserver

from buildbot.master import BuildMaster

# The program runs twistd and `buildbot upgrade-master` in the base directory and names it.
basedir = os.path.abspath(os.environ.get("BUILDBOT_BASEDIR", os.getcwd()))
configfile = "/opt/buildbot/master.cfg"

application = service.Application('buildmaster')  # noqa: Q000 (buildbot checks for this text)
application.setComponent(ILogObserver, FileLogObserver(sys.stdout).emit)
m = BuildMaster(basedir, configfile, umask=0o022)
m.setServiceParent(application)
