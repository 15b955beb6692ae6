#!/usr/bin/env bash
# A real single-machine Apache Hadoop (HDFS with two HA NameNodes + a DataNode, YARN with two HA ResourceManagers +
# a NodeManager, MapReduce) for development and tests: Hadoop's own mini clusters, started by hadoop/LocalHadoop.java.
#
#   scripts/hadoop.sh build          fetch the jars with Maven (cached in ~/.m2) and compile the launcher
#   scripts/hadoop.sh up [HOME]      build, start in the background, wait until healthy (default HOME: .hadoop)
#   scripts/hadoop.sh up-kerberos [HOME]   the Kerberized variant: a KDC (MiniKdc), one NameNode + DataNode and one
#                                    ResourceManager, SPNEGO on WebHDFS and the RM REST API (default HOME:
#                                    .hadoop-kerberos); its env sets KRB5_CONFIG and KRB5_CLIENT_KTNAME
#   scripts/hadoop.sh down [HOME]    stop it; no process is left behind
#   scripts/hadoop.sh status [HOME]
#   scripts/hadoop.sh active-rm [HOME]     index of the active ResourceManager (-1: none)
#   scripts/hadoop.sh rm-failover [HOME]   stop the active ResourceManager, make the other one active
#
# HOME gets conf/ (client *-site.xml), env (export lines for a shell), bin/{hadoop,yarn,hdfs} (Hadoop's own CLI
# classes on this classpath), cluster.properties (addresses), pid, logs/. Jars are shared in .hadoop/lib.
#
# Ports: the launcher picks free ports and the JVMs bind them a few seconds later, so a cluster starting at the same
# moment can take one in between ("Address already in use"). When a daemon fails to bind, `up` stops everything and
# starts again on newly picked ports (up to HADOOP_UP_ATTEMPTS times, default 3).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ZALONI_HADOOP_BUILD:-$REPO/.hadoop}
LIB=$BUILD/lib
CLASSES=$BUILD/classes
SRC=$REPO/hadoop
START_TIMEOUT=${HADOOP_START_TIMEOUT:-240}
UP_ATTEMPTS=${HADOOP_UP_ATTEMPTS:-3}

# Java 17: Hadoop's Guice/cglib and Jersey reflect into the JDK (what Hadoop's own scripts add on Java 17)
JAVA17_OPENS="--add-opens=java.base/java.lang=ALL-UNNAMED --add-opens=java.base/java.lang.reflect=ALL-UNNAMED \
--add-opens=java.base/java.io=ALL-UNNAMED --add-opens=java.base/java.net=ALL-UNNAMED \
--add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/java.util=ALL-UNNAMED \
--add-opens=java.base/java.util.concurrent=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
--add-opens=java.base/java.security=ALL-UNNAMED --add-opens=java.base/sun.security.util=ALL-UNNAMED \
--add-opens=java.security.jgss/sun.security.krb5=ALL-UNNAMED"
export ZALONI_JAVA17_OPENS=$JAVA17_OPENS

die() { echo "hadoop.sh: $*" >&2; exit 1; }

build() {
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is not installed: run 'make test-system-deps' as root, or apt-get install maven"
  command -v javac >/dev/null 2>&1 || die "a JDK (javac) is not installed: apt-get install default-jdk-headless"
  mkdir -p "$BUILD"
  if [[ ! -f $LIB/.stamp || $SRC/pom.xml -nt $LIB/.stamp ]]; then
    echo "hadoop.sh: fetching Hadoop jars with Maven (first use downloads about 100 MB into ~/.m2)" >&2
    rm -rf "$LIB.tmp"
    (cd "$SRC" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$LIB.tmp") \
      || die "mvn dependency:copy-dependencies failed in $SRC (see the Maven output above)"
    rm -rf "$LIB" && mv "$LIB.tmp" "$LIB" && touch "$LIB/.stamp"
  fi
  if [[ ! -f $BUILD/spark-yarn-lib/.stamp || $SRC/spark-yarn/pom.xml -nt $BUILD/spark-yarn-lib/.stamp ]]; then
    rm -rf "$BUILD/spark-yarn-lib"
    (cd "$SRC/spark-yarn" && mvn -q -B dependency:copy-dependencies -DexcludeTransitive=true \
      -DoutputDirectory="$BUILD/spark-yarn-lib") || die "mvn could not fetch spark-yarn_2.13 (hadoop/spark-yarn/pom.xml)"
    touch "$BUILD/spark-yarn-lib/.stamp"
  fi
  local java_src=$SRC/src/main/java/zaloni/LocalHadoop.java
  if [[ ! -f $CLASSES/.stamp || $java_src -nt $CLASSES/.stamp || $LIB/.stamp -nt $CLASSES/.stamp ]]; then
    rm -rf "$CLASSES" && mkdir -p "$CLASSES"
    javac -nowarn -d "$CLASSES" -cp "$LIB/*" "$java_src" || die "javac of $java_src failed"
    touch "$CLASSES/.stamp"
  fi
}

write_log4j() {  # $1: file, $2: root logger
  cat >"$1" <<EOF
log4j.rootLogger=$2
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.target=System.err
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{yy/MM/dd HH:mm:ss} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
log4j.logger.org.apache.hadoop.metrics2=WARN
EOF
}

write_launchers() {  # $1: home
  local home=$1 tool
  mkdir -p "$home/bin"
  write_log4j "$home/conf/log4j.properties" "INFO,console"
  for tool in hadoop yarn hdfs; do
    cat >"$home/bin/$tool" <<EOF
#!/usr/bin/env bash
# $tool of the local Hadoop in $home: Hadoop's own CLI classes (written by scripts/hadoop.sh)
export HADOOP_CONF_DIR=\${HADOOP_CONF_DIR:-$home/conf}
CP="\$HADOOP_CONF_DIR:$LIB/*\${HADOOP_CLASSPATH:+:\$HADOOP_CLASSPATH}"
OPTS=($JAVA17_OPENS -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j.configuration=file:\$HADOOP_CONF_DIR/log4j.properties \$HADOOP_CLIENT_OPTS)
run() { exec java "\${OPTS[@]}" -cp "\$CP" "\$@"; }
tool=$tool
sub=\${1:-}
[[ \$# -gt 0 ]] && shift
case "\$tool:\$sub" in
  *:jar) run org.apache.hadoop.util.RunJar "\$@" ;;
  *:classpath) echo "\$CP" ;;
  *:version) run org.apache.hadoop.util.VersionInfo ;;
  hadoop:fs|hadoop:dfs|hdfs:dfs) run org.apache.hadoop.fs.FsShell "\$@" ;;
  hadoop:distcp) run org.apache.hadoop.tools.DistCp "\$@" ;;
  hdfs:dfsadmin) run org.apache.hadoop.hdfs.tools.DFSAdmin "\$@" ;;
  hdfs:haadmin) run org.apache.hadoop.hdfs.tools.DFSHAAdmin "\$@" ;;
  hdfs:getconf) run org.apache.hadoop.hdfs.tools.GetConf "\$@" ;;
  hdfs:fsck) run org.apache.hadoop.hdfs.tools.DFSck "\$@" ;;
  yarn:application|yarn:applicationattempt|yarn:container|hadoop:application)
    run org.apache.hadoop.yarn.client.cli.ApplicationCLI "\$sub" "\$@" ;;
  yarn:node) run org.apache.hadoop.yarn.client.cli.NodeCLI "\$@" ;;
  yarn:rmadmin) run org.apache.hadoop.yarn.client.cli.RMAdminCLI "\$@" ;;
  yarn:queue) run org.apache.hadoop.yarn.client.cli.QueueCLI "\$@" ;;
  yarn:logs) run org.apache.hadoop.yarn.client.cli.LogsCLI "\$@" ;;
  hadoop:job|mapred:job) run org.apache.hadoop.mapred.JobClient "\$@" ;;
  *)
    echo "usage: $tool jar|classpath|version|fs|dfs|dfsadmin|haadmin|getconf|application|node|rmadmin|queue|logs ..." >&2
    echo "($tool of the local Hadoop test cluster: only these sub-commands are wired)" >&2
    exit 1 ;;
esac
EOF
    chmod +x "$home/bin/$tool"
  done
}

prop() { sed -n "s/^$2=//p" "$1/cluster.properties"; }

write_env_kerberos() {  # $1: home
  local home=$1
  cat >"$home/env" <<EOF
# source this file: the Kerberized local Hadoop in $home (realm $(prop "$home" realm), KDC $(prop "$home" kdc))
export KRB5_CONFIG=$(prop "$home" krb5_conf)
# MIT Kerberos gets the user's ticket from this keytab by itself; or: kinit -kt \$KRB5_CLIENT_KTNAME $(prop "$home" user_principal)
export KRB5_CLIENT_KTNAME=$(prop "$home" user_keytab)
export KRB5CCNAME=FILE:$home/krb5cc
export HADOOP_CONF_DIR=$home/conf
export HADOOP_CLIENT_OPTS=-Djava.security.krb5.conf=$(prop "$home" krb5_conf)
export AIRFLOW_CONN_WEBHDFS_DEFAULT='webhdfs://$(prop "$home" namenode_http)?use_kerberos=true'
export AIRFLOW_CONN_YARN_DEFAULT='yarn://$(prop "$home" resourcemanager_http)?auth=kerberos'
export PATH=$home/bin:\$PATH
EOF
}

write_env() {  # $1: home
  local home=$1 nn rm user
  nn=$(prop "$home" namenode_http)
  rm=$(prop "$home" resourcemanager_http)
  user=$(id -un)
  # The host field carries an HA list of host:port entries, percent-encoded in the connection URI
  local nn_q=${nn//:/%3A} rm_q=${rm//:/%3A}
  nn_q=${nn_q//,/%2C}
  rm_q=${rm_q//,/%2C}
  cat >"$home/env" <<EOF
# source this file: the local Hadoop in $home
export HADOOP_CONF_DIR=$home/conf
export YARN_CONF_DIR=$home/conf
export HADOOP_EXAMPLES_JAR=$(ls "$LIB"/hadoop-mapreduce-examples-*.jar)
export AIRFLOW_CONN_WEBHDFS_DEFAULT='webhdfs://$user@$nn_q'
export AIRFLOW_CONN_YARN_DEFAULT='yarn://$user@$rm_q'
export SPARK_YARN_JAR=$(ls "$BUILD"/spark-yarn-lib/spark-yarn_*.jar)
export PATH=$home/bin:\$PATH
EOF
}

pid_alive() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
is_running() { pid_alive "$1/pids/hdfs.pid"; }

JVM_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.net.preferIPv4Stack=true"
DAEMON_OPTS=""  # more JVM options for the daemons (the Kerberized cluster's krb5.conf)

start_daemon() {  # $1: home, $2: name, $3: conf dir, $4: heap, $5: main class, $6..: args
  local home=$1 name=$2 conf=$3 heap=$4 class=$5
  shift 5
  # setsid: a process group of its own, so `down` stops exactly this JVM
  # shellcheck disable=SC2086
  (cd "$home" && exec setsid java $JAVA17_OPENS $JVM_OPTS $DAEMON_OPTS -Xmx"$heap" \
    -Dlog4j.configuration="file:$home/logs/log4j.properties" -Dhadoop.log.dir="$home/logs" \
    -cp "$conf:$CLASSES:$LIB/*" "$class" "$@" >"$home/logs/$name.log" 2>&1 </dev/null) &
  echo $! >"$home/pids/$name.pid"
}

stop_daemon() {  # $1: pid file
  local pid i
  pid_alive "$1" || { rm -f "$1"; return 0; }
  pid=$(cat "$1")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$1"
}

rm_http() { prop "$1" resourcemanager_http | cut -d, -f$(($2 + 1)); }

rm_state() {  # $1: home, $2: index -> active | standby | down (Kerberized: up | down)
  local state
  if [[ -n $(prop "$1" kerberos) ]]; then  # without a ticket the RM answers 401: it is up
    state=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://$(rm_http "$1" "$2")/ws/v1/cluster/info") || true
    [[ $state == 401 ]] && echo up || echo down
    return
  fi
  state=$(curl -sf --max-time 5 -H 'Accept: application/json' "http://$(rm_http "$1" "$2")/ws/v1/cluster/info" \
    | sed -n 's/.*"haState":"\([A-Z]*\)".*/\1/p') || true
  case "$state" in ACTIVE) echo active ;; STANDBY) echo standby ;; *) echo down ;; esac
}

active_rm() {  # $1: home -> index or -1
  local i
  for i in 0 1; do [[ $(rm_state "$1" $i) == active ]] && { echo $i; return; }; done
  echo -1
}

start_rm() {  # $1: home, $2: index; waits until it answers (as standby)
  local home=$1 i=$2 n
  start_daemon "$home" "rm$i" "$home/conf-rm$i" 384m org.apache.hadoop.yarn.server.resourcemanager.ResourceManager
  for n in $(seq 1 240); do
    [[ $(rm_state "$home" "$i") != down ]] && return 0
    pid_alive "$home/pids/rm$i.pid" || { tail -n 30 "$home/logs/rm$i.log" >&2; die "ResourceManager rm$i exited (log: $home/logs/rm$i.log)"; }
    sleep 0.5
  done
  die "ResourceManager rm$i did not answer within 120s (log: $home/logs/rm$i.log)"
}

transition_rm() {  # $1: home, $2: index to make active (Hadoop's own RMAdminCLI)
  HADOOP_CONF_DIR=$1/conf "$1/bin/yarn" rmadmin -transitionToActive --forceactive "rm$2" >>"$1/logs/rmadmin.log" 2>&1 \
    || { tail -n 20 "$1/logs/rmadmin.log" >&2; die "yarn rmadmin -transitionToActive rm$2 failed"; }
}

# Stop the active ResourceManager (as an outage would) and make the other one active; print the new index.
# A ResourceManager stopped by an earlier call is started again (as standby) first.
rm_failover() {
  local home=$1 from to
  from=$(active_rm "$home")
  ((from >= 0)) || die "no active ResourceManager in $home"
  to=$((1 - from))
  pid_alive "$home/pids/rm$to.pid" || start_rm "$home" "$to"
  stop_daemon "$home/pids/rm$from.pid"
  transition_rm "$home" "$to"
  # the NodeManager finds the new active RM on its next heartbeat; no container can start before that
  wait_for "the NodeManager's registration with rm$to" "$START_TIMEOUT" nm_registered "$home"
  echo "$to"
}

wait_for() {  # $1: what, $2: seconds, $3..: command that succeeds when ready
  local what=$1 seconds=$2 n
  shift 2
  for n in $(seq 1 $((seconds * 2))); do
    "$@" && return 0
    sleep 0.5
  done
  die "$what was not ready after ${seconds}s"
}

nm_registered() {
  local a
  pid_alive "$1/pids/nm.pid" || { tail -n 30 "$1/logs/nm.log" >&2; die "the NodeManager exited (log: $1/logs/nm.log)"; }
  a=$(active_rm "$1")
  ((a >= 0)) && curl -sf --max-time 5 -H 'Accept: application/json' "http://$(rm_http "$1" "$a")/ws/v1/cluster/metrics" \
    | grep -q '"activeNodes":[1-9]'
}

jhs_up() {
  pid_alive "$1/pids/jhs.pid" || { tail -n 30 "$1/logs/jhs.log" >&2; die "the JobHistoryServer exited (log: $1/logs/jhs.log)"; }
  curl -sf --max-time 5 -o /dev/null "http://$(prop "$1" jobhistory_http)/ws/v1/history/info"; }

# A daemon that could not bind its port: another process took it between the pick and the bind.
bind_failed() { grep -qs -e 'java.net.BindException' "$1"/logs/*.log; }

up() {  # $1: home, $2: "kerberos" for the Kerberized variant
  local home mode=${2:-} attempt rc
  home=$(mkdir -p "$1" && cd "$1" && pwd)
  build
  if is_running "$home"; then
    echo "hadoop.sh: already running in $home; source $home/env" >&2
    return 0
  fi
  for attempt in $(seq 1 "$UP_ATTEMPTS"); do
    rc=0
    (up_once "$home" "$mode") || rc=$?
    ((rc == 0)) && return 0
    if ! bind_failed "$home" || ((attempt == UP_ATTEMPTS)); then
      down "$home" >/dev/null 2>&1 || true
      exit "$rc"
    fi
    echo "hadoop.sh: a port was taken by another process before Hadoop bound it (BindException); starting again on new ports (attempt $((attempt + 1)) of $UP_ATTEMPTS)" >&2
    down "$home" >/dev/null 2>&1 || true
    rm -rf "$home/logs.attempt-$attempt" && mv "$home/logs" "$home/logs.attempt-$attempt"
  done
}

up_once() {  # $1: home, $2: mode; dies on failure (the caller retries after a bind failure)
  local home=$1 mode=$2
  down "$home" >/dev/null 2>&1 || true  # leftovers of a launcher that died
  rm -rf "$home/conf" "$home"/conf-rm* "$home/dfs" "$home/tmp" "$home/rm-state" "$home/nm" "$home/node-attributes" \
    "$home/ready" "$home/cluster.properties" "$home/env" "$home/kdc" "$home/keytabs" "$home/krb5.conf" "$home/krb5cc"
  mkdir -p "$home/logs" "$home/conf" "$home/pids"
  write_log4j "$home/logs/log4j.properties" "WARN,console"
  start_daemon "$home" hdfs "$home/conf" 768m zaloni.LocalHadoop "$home" ${mode:+--$mode}
  local waited=0
  while [[ ! -f $home/ready ]]; do
    if ! is_running "$home"; then
      tail -n 40 "$home/logs/hdfs.log" >&2
      die "the HDFS launcher exited before it was ready (log: $home/logs/hdfs.log)"
    fi
    if ((waited >= START_TIMEOUT * 2)); then
      tail -n 40 "$home/logs/hdfs.log" >&2
      down "$home"
      die "HDFS was not ready after ${START_TIMEOUT}s (log: $home/logs/hdfs.log)"
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
  write_launchers "$home"
  if [[ $mode == kerberos ]]; then
    DAEMON_OPTS="-Djava.security.krb5.conf=$(prop "$home" krb5_conf)"
    start_rm "$home" 0
    write_env_kerberos "$home"
    echo "hadoop.sh: Kerberized Hadoop is up in $home: source $home/env" >&2
    return 0
  fi
  start_daemon "$home" rm1 "$home/conf-rm1" 384m org.apache.hadoop.yarn.server.resourcemanager.ResourceManager
  start_rm "$home" 0
  transition_rm "$home" 0
  start_daemon "$home" nm "$home/conf" 384m org.apache.hadoop.yarn.server.nodemanager.NodeManager
  start_daemon "$home" jhs "$home/conf" 256m org.apache.hadoop.mapreduce.v2.hs.JobHistoryServer
  wait_for "the NodeManager's registration" "$START_TIMEOUT" nm_registered "$home"
  wait_for "the JobHistoryServer" "$START_TIMEOUT" jhs_up "$home"
  [[ $(rm_state "$home" 1) == standby ]] || die "ResourceManager rm1 is not a standby (log: $home/logs/rm1.log)"
  write_env "$home"
  echo "hadoop.sh: Hadoop is up in $home: source $home/env" >&2
}

down() {
  local home=$1 f
  [[ -d $home/pids ]] || { echo "hadoop.sh: not running in $home" >&2; return 0; }
  for f in jhs nm rm0 rm1 hdfs; do stop_daemon "$home/pids/$f.pid"; done
  # containers run in sessions of their own (the NodeManager starts them with setsid); a NodeManager that died
  # hard leaves them behind. They all run from this home's nm/ folder.
  pkill -KILL -f -- "$home/nm/" 2>/dev/null || true
  rm -f "$home/ready"
  echo "hadoop.sh: stopped the Hadoop in $home" >&2
}

cmd=${1:-}
home=${2:-$REPO/.hadoop}
case "$cmd" in
  build) build ;;
  up) up "$home" ;;
  up-kerberos) up "${2:-$REPO/.hadoop-kerberos}" kerberos ;;
  down) down "$home" ;;
  active-rm) active_rm "$home" ;;
  rm-failover) rm_failover "$home" ;;
  status)
    if is_running "$home"; then echo "running: source $home/env"; else echo "not running"; exit 1; fi ;;
  *) die "usage: scripts/hadoop.sh build | up [HOME] | up-kerberos [HOME] | down [HOME] | status [HOME] | active-rm [HOME] | rm-failover [HOME]" ;;
esac
