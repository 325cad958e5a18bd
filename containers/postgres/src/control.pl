#!/usr/bin/perl
# `perl control.pl <tool arguments>`: the operator's dump commands (`devcluster db ...`), answered by
# the running program over its control socket: one JSON line in ({"argv": [...]}), one JSON reply
# out ({"code": n, "line": "..."}); the tool's line is printed and its code is the exit code.
# In Perl, which the image carries for PostgreSQL's own tools: it starts as fast as `sh`, where a
# Node client costs 80-100 ms more through `docker exec` (ARCHITECTURE.md decision 77).
# While the program has no socket yet (still starting), the same command runs in a process of its
# own, `node main.mjs`, as before.
use strict;
use warnings;
use FindBin;
use IO::Socket::UNIX;
use JSON::PP;

my $SOCKET = '/run/devcluster/control.sock';

sub failed {
  print JSON::PP->new->canonical->encode({ error => $_[0], refused => JSON::PP::false }), "\n";
  exit 1;
}

my $conn = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $SOCKET);
if (!$conn) {
  # No program listening: the command is not lost, it runs on its own.
  if ($!{ENOENT} || $!{ECONNREFUSED}) {
    exec 'node', "$FindBin::Bin/main.mjs", @ARGV;
    failed("cannot start node main.mjs: $!");
  }
  failed("the program's control socket $SOCKET: $!");
}
# The arguments' bytes pass through as they are (UTF-8 from the node script); the program checks them.
print {$conn} JSON::PP->new->encode({ argv => [@ARGV] }), "\n";
my $text = do { local $/; <$conn> } // '';
my $reply = eval { JSON::PP->new->utf8->decode($text) };
if (ref $reply ne 'HASH' || !defined $reply->{line} || ($reply->{code} // '') !~ /^\d+$/) {
  failed(sprintf("the program's control socket answered no reply (%d bytes)", length $text));
}
binmode STDOUT, ':encoding(UTF-8)';
print $reply->{line}, "\n";
exit $reply->{code};
