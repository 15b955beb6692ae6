package zaloni;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.MiniDFSNNTopology;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.minikdc.MiniKdc;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.yarn.conf.YarnConfiguration;

/**
 * The HDFS of a real single-machine Hadoop on 127.0.0.1: Hadoop's own MiniDFSCluster (two NameNodes in HA, one
 * DataNode, WebHDFS), and the configuration of the whole cluster: YARN (two ResourceManagers in HA sharing a state
 * store, a NodeManager, a JobHistoryServer) runs in daemons that scripts/hadoop.sh starts from Hadoop's own main
 * classes. Everything that answers a client is Hadoop's code; this class only wires it up.
 *
 * <p>With {@code --kerberos} the cluster is Kerberized instead: a MiniKdc (Apache Kerby, in this JVM) with the
 * principals {@code hdfs/localhost}, {@code rm/localhost}, {@code HTTP/localhost}, {@code HTTP/127.0.0.1} (keytab
 * {@code <home>/keytabs/services.keytab}) and the user running this (keytab {@code <home>/keytabs/user.keytab}),
 * a client {@code <home>/krb5.conf}, one NameNode and one DataNode with {@code hadoop.security.authentication=
 * kerberos} and SPNEGO on WebHDFS, and the configuration of one ResourceManager with SPNEGO on its web app and
 * REST API ({@code conf-rm0}). No HA and no NodeManager: what is tested there is authentication, not scheduling.
 *
 * <p>Usage: {@code LocalHadoop <home> [--kerberos]}. Every port is free-picked. It writes client configuration to
 * {@code <home>/conf} (core, hdfs, yarn, mapred-site.xml), the addresses to {@code <home>/cluster.properties} and
 * then {@code <home>/ready}. A control channel on 127.0.0.1 (port in cluster.properties) takes one command per
 * connection: {@code ping}, {@code active-nn}, {@code failover-nn}, {@code shutdown}. The answer is one line, {@code ok <value>} or {@code error <message>}.
 */
public final class LocalHadoop {
  private static final String HOST = "127.0.0.1";
  private static final String NAMESERVICE = "zaloni";
  private static final String[] RM_IDS = {"rm0", "rm1"};

  private final File home;
  private final File confDir;
  private final boolean kerberos;
  private MiniKdc kdc;
  private MiniDFSCluster dfs;
  private volatile boolean running = true;

  private LocalHadoop(File home, boolean kerberos) {
    this.home = home;
    this.confDir = new File(home, "conf");
    this.kerberos = kerberos;
  }

  public static void main(String[] args) throws Exception {
    boolean kerberos = args.length == 2 && args[1].equals("--kerberos");
    if (args.length != 1 && !kerberos) {
      System.err.println("usage: LocalHadoop <home> [--kerberos]");
      System.exit(2);
    }
    LocalHadoop hadoop = new LocalHadoop(new File(args[0]).getAbsoluteFile(), kerberos);
    Runtime.getRuntime().addShutdownHook(new Thread(hadoop::stopAll));
    try {
      hadoop.run();
    } catch (Throwable error) {
      error.printStackTrace();
      hadoop.stopAll();
      System.exit(1);
    }
    System.exit(0);
  }

  /** Free ports, all different: every socket stays open until all are picked. */
  private static int[] freePorts(int count) throws IOException {
    List<ServerSocket> sockets = new ArrayList<>();
    int[] ports = new int[count];
    try {
      for (int i = 0; i < count; i++) {
        ServerSocket socket = new ServerSocket(0, 1, InetAddress.getByName(HOST));
        sockets.add(socket);
        ports[i] = socket.getLocalPort();
      }
    } finally {
      for (ServerSocket socket : sockets) {
        socket.close();
      }
    }
    return ports;
  }

  private static String addr(int port) {
    return HOST + ":" + port;
  }

  private void run() throws Exception {
    if (kerberos) {
      runKerberized();
      return;
    }
    confDir.mkdirs();
    ServerSocket control = new ServerSocket(0, 5, InetAddress.getByName(HOST));
    int[] p = freePorts(20);
    int nn1Rpc = p[0], nn1Http = p[1], nn2Rpc = p[2], nn2Http = p[3];
    int jhsRpc = p[4], jhsHttp = p[5], jhsAdmin = p[6];
    int nmLocalizer = p[7], nmHttp = p[8], nmRpc = p[9];
    int[][] rmPorts = {{p[10], p[11], p[12], p[13], p[14]}, {p[15], p[16], p[17], p[18], p[19]}};

    // -- what clients need (written to conf/) ---------------------------------------------------------------
    Configuration core = new Configuration(false);
    core.set("fs.defaultFS", "hdfs://" + NAMESERVICE);
    core.set("hadoop.security.authentication", "simple");
    // a MapReduce client on this machine must not wait on retries to an RM that is down (RM HA failover)
    core.set("ipc.client.connect.max.retries", "2");
    core.set("ipc.client.connect.retry.interval", "200");

    Configuration hdfs = new Configuration(false);
    hdfs.set("dfs.nameservices", NAMESERVICE);
    hdfs.set("dfs.ha.namenodes." + NAMESERVICE, "nn1,nn2");
    hdfs.set("dfs.namenode.rpc-address." + NAMESERVICE + ".nn1", addr(nn1Rpc));
    hdfs.set("dfs.namenode.rpc-address." + NAMESERVICE + ".nn2", addr(nn2Rpc));
    hdfs.set("dfs.namenode.http-address." + NAMESERVICE + ".nn1", addr(nn1Http));
    hdfs.set("dfs.namenode.http-address." + NAMESERVICE + ".nn2", addr(nn2Http));
    hdfs.set(
        "dfs.client.failover.proxy.provider." + NAMESERVICE,
        "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider");
    hdfs.set("dfs.ha.fencing.methods", "shell(/bin/true)"); // both NameNodes live in this JVM
    hdfs.set("dfs.ha.automatic-failover.enabled", "false");
    hdfs.set("dfs.replication", "1");
    hdfs.set("dfs.webhdfs.enabled", "true");
    hdfs.set("dfs.permissions.enabled", "true");

    Configuration yarnSite = new Configuration(false);
    yarnSite.set("yarn.resourcemanager.ha.enabled", "true");
    yarnSite.set("yarn.resourcemanager.ha.rm-ids", String.join(",", RM_IDS));
    yarnSite.set("yarn.resourcemanager.cluster-id", "zaloni-yarn");
    yarnSite.set("yarn.resourcemanager.ha.automatic-failover.enabled", "false"); // no ZooKeeper: the control channel fails over
    String[] rmKeys = {
      YarnConfiguration.RM_ADDRESS,
      YarnConfiguration.RM_SCHEDULER_ADDRESS,
      YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS,
      YarnConfiguration.RM_ADMIN_ADDRESS,
      YarnConfiguration.RM_WEBAPP_ADDRESS,
    };
    for (int r = 0; r < RM_IDS.length; r++) {
      yarnSite.set("yarn.resourcemanager.hostname." + RM_IDS[r], HOST);
      for (int k = 0; k < rmKeys.length; k++) {
        yarnSite.set(rmKeys[k] + "." + RM_IDS[r], addr(rmPorts[r][k]));
      }
    }
    yarnSite.set("yarn.client.failover-sleep-base-ms", "200");
    yarnSite.set("yarn.client.failover-sleep-max-ms", "1000");
    // containers get the submitting client's classpath (MRApps / Spark's Client read this flag)
    yarnSite.set(YarnConfiguration.IS_MINI_YARN_CLUSTER, "true");
    yarnSite.set("yarn.log-aggregation-enable", "false");

    Configuration mapred = new Configuration(false);
    mapred.set("mapreduce.framework.name", "yarn");
    // The maps and the reduce of a small job run inside the MapReduce AM's container ("uber" mode): still one
    // real YARN application, with one container instead of three (what 2 shared cores can carry). Bigger jobs
    // get containers of their own and the NodeManager's shuffle service.
    mapred.set("mapreduce.job.ubertask.enable", "true");
    mapred.set("mapreduce.job.ubertask.maxmaps", "64");
    mapred.set("yarn.app.mapreduce.am.resource.mb", "512");
    String opens = System.getenv().getOrDefault("ZALONI_JAVA17_OPENS", "");
    mapred.set("yarn.app.mapreduce.am.command-opts", "-Xmx400m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 " + opens);
    mapred.set("mapreduce.map.java.opts", "-Xmx400m " + opens);
    mapred.set("mapreduce.reduce.java.opts", "-Xmx400m " + opens);
    mapred.set("mapreduce.map.memory.mb", "512");
    mapred.set("mapreduce.reduce.memory.mb", "512");
    mapred.set("mapreduce.jobhistory.address", addr(jhsRpc));
    mapred.set("mapreduce.jobhistory.webapp.address", addr(jhsHttp));
    mapred.set("mapreduce.jobhistory.admin.address", addr(jhsAdmin));
    mapred.set("yarn.app.mapreduce.am.staging-dir", "/tmp/hadoop-yarn/staging");
    // any free port (not 13562, which another cluster may hold): the NodeManager tells the AMs which one. In
    // mapred-site.xml, because the ShuffleHandler reads a JobConf, where mapred-default.xml overrides yarn-site.xml
    mapred.set("mapreduce.shuffle.port", "0");

    write(core, "core-site.xml");
    write(hdfs, "hdfs-site.xml");
    write(mapred, "mapred-site.xml");

    // -- servers ------------------------------------------------------------------------------------------------
    Configuration conf = new Configuration();
    merge(conf, core, hdfs, yarnSite, mapred);
    conf.set("hadoop.tmp.dir", new File(home, "tmp").getPath());
    conf.set("dfs.ha.tail-edits.period", "1");
    conf.set("dfs.namenode.safemode.extension", "0");
    conf.set("dfs.datanode.address", addr(0));
    conf.set("dfs.datanode.http.address", addr(0));
    conf.set("dfs.datanode.ipc.address", addr(0));
    conf.set("hadoop.proxyuser." + System.getProperty("user.name") + ".hosts", "*");
    conf.set("hadoop.proxyuser." + System.getProperty("user.name") + ".groups", "*");

    MiniDFSNNTopology topology =
        new MiniDFSNNTopology()
            .addNameservice(
                new MiniDFSNNTopology.NSConf(NAMESERVICE)
                    .addNN(new MiniDFSNNTopology.NNConf("nn1").setIpcPort(nn1Rpc).setHttpPort(nn1Http))
                    .addNN(new MiniDFSNNTopology.NNConf("nn2").setIpcPort(nn2Rpc).setHttpPort(nn2Http)));
    dfs =
        new MiniDFSCluster.Builder(conf, new File(home, "dfs"))
            .nnTopology(topology)
            .numDataNodes(1)
            .build();
    dfs.waitActive();
    dfs.transitionToActive(0);
    dfs.waitActive();
    log("HDFS up: nameservice " + NAMESERVICE + ", nn1 " + addr(nn1Http) + ", nn2 " + addr(nn2Http));

    // The YARN daemons run in JVMs of their own (scripts/hadoop.sh starts Hadoop's ResourceManager, NodeManager and
    // JobHistoryServer main classes): Guice's servlet pipeline is static, so two web apps in one JVM (as in
    // MiniYARNCluster) answer each other's REST calls. Their configuration is written here, with the ports.
    Configuration server = new Configuration(false);
    merge(server, yarnSite, mapred);
    server.set(YarnConfiguration.RM_SCHEDULER, "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler");
    server.setBoolean(YarnConfiguration.RECOVERY_ENABLED, true);
    server.set(YarnConfiguration.RM_STORE, "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore");
    server.set(YarnConfiguration.FS_RM_STATE_STORE_URI, new File(home, "rm-state").toURI().toString());
    // its default folder is on fs.defaultFS, which the RM would retry forever while HDFS is in safe mode
    server.set("yarn.node-attribute.fs-store.root-dir", new File(home, "node-attributes").toURI().toString());
    server.set(YarnConfiguration.NM_ADDRESS, addr(nmRpc));
    server.set(YarnConfiguration.NM_LOCALIZER_ADDRESS, addr(nmLocalizer));
    server.set(YarnConfiguration.NM_WEBAPP_ADDRESS, addr(nmHttp));
    server.set(YarnConfiguration.NM_LOCAL_DIRS, new File(home, "nm/local").getPath());
    server.set(YarnConfiguration.NM_LOG_DIRS, new File(home, "nm/logs").getPath());
    server.set(YarnConfiguration.NM_AUX_SERVICES, "mapreduce_shuffle");
    server.set("yarn.nodemanager.aux-services.mapreduce_shuffle.class", "org.apache.hadoop.mapred.ShuffleHandler");
    server.setInt(YarnConfiguration.NM_PMEM_MB, 4096);
    server.setInt(YarnConfiguration.NM_VCORES, 4);
    server.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
    server.setBoolean(YarnConfiguration.NM_PMEM_CHECK_ENABLED, false);
    server.setBoolean(YarnConfiguration.NM_VMEM_CHECK_ENABLED, false);
    server.setBoolean(YarnConfiguration.NM_DISK_HEALTH_CHECK_ENABLE, false); // a full shared disk must not stop it
    // The NodeManager still checks its local dirs once when it starts and refuses every container ("No space
    // available in any of the local directories") when the disk is over 90% used, as a shared CI disk can be.
    server.setFloat(YarnConfiguration.NM_MAX_PER_DISK_UTILIZATION_PERCENTAGE, 100.0f);
    server.setBoolean(YarnConfiguration.TIMELINE_SERVICE_ENABLED, false);
    server.setInt(YarnConfiguration.RM_NM_HEARTBEAT_INTERVAL_MS, 500);
    server.setInt("yarn.nodemanager.delete.debug-delay-sec", 0);
    server.set("hadoop.proxyuser." + System.getProperty("user.name") + ".hosts", "*");
    server.set("hadoop.proxyuser." + System.getProperty("user.name") + ".groups", "*");
    write(server, "yarn-site.xml");
    // each RM must be told which one it is: both addresses are local, so it cannot find out by itself
    for (String rmId : RM_IDS) {
      File dir = new File(home, "conf-" + rmId);
      dir.mkdirs();
      for (String name : new String[] {"core-site.xml", "hdfs-site.xml", "mapred-site.xml", "log4j.properties"}) {
        File from = new File(confDir, name);
        if (from.exists()) {
          Files.copy(from.toPath(), new File(dir, name).toPath(), StandardCopyOption.REPLACE_EXISTING);
        }
      }
      Configuration rm = new Configuration(false);
      merge(rm, server);
      rm.set(YarnConfiguration.RM_HA_ID, rmId);
      write(rm, new File(dir, "yarn-site.xml"));
    }

    Map<String, String> props = new LinkedHashMap<>();
    props.put("nameservice", NAMESERVICE);
    props.put("namenode_rpc", addr(nn1Rpc) + "," + addr(nn2Rpc));
    props.put("namenode_http", addr(nn1Http) + "," + addr(nn2Http));
    props.put("resourcemanager_http", addr(rmPorts[0][4]) + "," + addr(rmPorts[1][4]));
    props.put("resourcemanager_rpc", addr(rmPorts[0][0]) + "," + addr(rmPorts[1][0]));
    props.put("jobhistory_http", addr(jhsHttp));
    props.put("nodemanager_http", addr(nmHttp));
    announceReady(props, control);
  }

  /**
   * Publish the cluster's addresses (and the control port) in {@code cluster.properties}, then {@code ready}, which
   * the launching script waits for; then answer control commands until stopped.
   */
  private void announceReady(Map<String, String> props, ServerSocket control) throws IOException {
    props.put("control_port", Integer.toString(control.getLocalPort()));
    StringBuilder text = new StringBuilder();
    props.forEach((k, v) -> text.append(k).append('=').append(v).append('\n'));
    writeAtomically(new File(home, "cluster.properties"), text.toString());
    writeAtomically(new File(home, "ready"), "ok\n");
    log("ready");
    serve(control);
  }

  private void serve(ServerSocket control) throws IOException {
    while (running) {
      try (Socket client = control.accept();
          BufferedReader in =
              new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.UTF_8));
          PrintWriter out = new PrintWriter(client.getOutputStream(), true, StandardCharsets.UTF_8)) {
        String command = String.valueOf(in.readLine()).trim();
        String answer;
        try {
          answer = "ok " + handle(command);
        } catch (Exception error) {
          error.printStackTrace();
          answer = "error " + String.valueOf(error).replace('\n', ' ');
        }
        out.println(answer);
      }
    }
    control.close();
  }

  private synchronized String handle(String command) throws Exception {
    switch (command) {
      case "ping":
        return "pong";
      case "active-nn":
        return Integer.toString(activeNameNode());
      case "failover-nn":
        {
          int from = activeNameNode();
          int to = 1 - from;
          dfs.transitionToStandby(from);
          dfs.transitionToActive(to);
          log("NameNode failover nn" + (from + 1) + " -> nn" + (to + 1));
          return Integer.toString(to);
        }
      case "shutdown":
        running = false;
        stopAll();
        return "bye";
      default:
        throw new IllegalArgumentException("unknown command: " + command);
    }
  }

  private int activeNameNode() {
    for (int i = 0; i < 2; i++) {
      if (dfs.getNameNode(i) != null && dfs.getNameNode(i).isActiveState()) {
        return i;
      }
    }
    return -1;
  }

  private synchronized void stopAll() {
    if (dfs != null) {
      dfs.shutdown();
      dfs = null;
    }
    if (kdc != null) {
      kdc.stop();
      kdc = null;
    }
  }

  // -- the Kerberized variant ----------------------------------------------------------------------------------------

  private void runKerberized() throws Exception {
    confDir.mkdirs();
    ServerSocket control = new ServerSocket(0, 5, InetAddress.getByName(HOST));
    // The KDC first: Hadoop's KerberosName reads the default realm once, from the krb5.conf MiniKdc points Java at
    Properties kdcConf = MiniKdc.createConf();
    kdcConf.setProperty(MiniKdc.KDC_BIND_ADDRESS, HOST);
    kdc = new MiniKdc(kdcConf, new File(home, "kdc"));
    kdc.start();
    String realm = kdc.getRealm();
    String user = System.getProperty("user.name");
    File keytabs = new File(home, "keytabs");
    keytabs.mkdirs();
    File services = new File(keytabs, "services.keytab");
    File userKeytab = new File(keytabs, "user.keytab");
    // one call per keytab: each call gives its principals new random keys
    kdc.createPrincipal(services, "hdfs/localhost", "rm/localhost", "HTTP/localhost", "HTTP/" + HOST);
    kdc.createPrincipal(userKeytab, user);
    File krb5 = new File(home, "krb5.conf");
    writeAtomically(krb5, clientKrb5Conf(realm, kdc.getPort()));
    log("KDC up: realm " + realm + " on " + addr(kdc.getPort()));

    int[] p = freePorts(3);
    int nnRpc = p[0], nnHttp = p[1], rmHttp = p[2];
    int[] rmPorts = freePorts(4);
    String hdfsPrincipal = "hdfs/localhost@" + realm;
    Configuration core = new Configuration(false);
    core.set("fs.defaultFS", "hdfs://" + addr(nnRpc));
    core.set("hadoop.security.authentication", "kerberos");
    core.set("hadoop.security.authorization", "false");
    core.set("hadoop.rpc.protection", "authentication");
    // SPNEGO on every web endpoint (the NameNode's WebHDFS and the ResourceManager's REST API): Hadoop 3.4 reads
    // these keys (the NameNode's AuthFilterInitializer, the RM's RMAuthenticationFilterInitializer), not the old
    // dfs.web.authentication.* ones. The client must be able to read the keytab: it is the cluster's own file.
    core.set("hadoop.http.authentication.type", "kerberos");
    core.set("hadoop.http.authentication.simple.anonymous.allowed", "false");
    core.set("hadoop.http.authentication.kerberos.principal", "HTTP/" + HOST + "@" + realm);
    core.set("hadoop.http.authentication.kerberos.keytab", services.getPath());
    core.set("hadoop.http.filter.initializers", "org.apache.hadoop.security.AuthenticationFilterInitializer");
    Configuration hdfs = new Configuration(false);
    hdfs.set("dfs.namenode.rpc-address", addr(nnRpc));
    hdfs.set("dfs.namenode.http-address", addr(nnHttp));
    hdfs.set("dfs.namenode.kerberos.principal", hdfsPrincipal);
    hdfs.set("dfs.datanode.kerberos.principal", hdfsPrincipal);
    hdfs.set("dfs.web.authentication.kerberos.principal", "HTTP/" + HOST + "@" + realm);
    hdfs.set("dfs.replication", "1");
    hdfs.set("dfs.webhdfs.enabled", "true");
    hdfs.set("dfs.permissions.enabled", "true");
    hdfs.set("dfs.block.access.token.enable", "true");
    write(core, "core-site.xml");
    write(hdfs, "hdfs-site.xml");

    Configuration conf = new Configuration();
    merge(conf, core, hdfs);
    conf.set("hadoop.tmp.dir", new File(home, "tmp").getPath());
    conf.set("dfs.namenode.keytab.file", services.getPath());
    conf.set("dfs.datanode.keytab.file", services.getPath());
    conf.set("dfs.web.authentication.kerberos.keytab", services.getPath());
    conf.set("dfs.namenode.safemode.extension", "0");
    conf.set("dfs.datanode.address", addr(0));
    conf.set("dfs.datanode.http.address", addr(0));
    conf.set("dfs.datanode.ipc.address", addr(0));
    // a secure DataNode wants privileged ports (jsvc) or SASL + HTTPS; Hadoop's own tests waive that with this key
    conf.setBoolean("ignore.secure.ports.for.testing", true);
    UserGroupInformation.setConfiguration(conf);
    UserGroupInformation.loginUserFromKeytab(hdfsPrincipal, services.getPath());
    dfs =
        new MiniDFSCluster.Builder(conf, new File(home, "dfs"))
            .nameNodePort(nnRpc)
            .nameNodeHttpPort(nnHttp)
            .numDataNodes(1)
            .checkDataNodeAddrConfig(true)
            .build();
    dfs.waitActive();
    // as the superuser (hdfs): a home for the user and a shared /tmp, as on a real cluster
    FileSystem fs = dfs.getFileSystem();
    Path userHome = new Path("/user/" + user);
    fs.mkdirs(userHome);
    fs.setOwner(userHome, user, null);
    fs.mkdirs(new Path("/tmp"));
    fs.setPermission(new Path("/tmp"), new FsPermission((short) 01777));
    log("Kerberized HDFS up: NameNode " + addr(nnHttp));

    // one ResourceManager (scripts/hadoop.sh starts it from conf-rm0), SPNEGO on its web app and REST API
    Configuration rm = new Configuration(false);
    rm.set(YarnConfiguration.RM_ADDRESS, addr(rmPorts[0]));
    rm.set(YarnConfiguration.RM_SCHEDULER_ADDRESS, addr(rmPorts[1]));
    rm.set(YarnConfiguration.RM_RESOURCE_TRACKER_ADDRESS, addr(rmPorts[2]));
    rm.set(YarnConfiguration.RM_ADMIN_ADDRESS, addr(rmPorts[3]));
    rm.set(YarnConfiguration.RM_WEBAPP_ADDRESS, addr(rmHttp));
    rm.set(YarnConfiguration.RM_PRINCIPAL, "rm/localhost@" + realm);
    rm.set(YarnConfiguration.RM_KEYTAB, services.getPath());
    rm.set(YarnConfiguration.RM_SCHEDULER, "org.apache.hadoop.yarn.server.resourcemanager.scheduler.fifo.FifoScheduler");
    rm.set("yarn.node-attribute.fs-store.root-dir", new File(home, "node-attributes").toURI().toString());
    rm.setBoolean(YarnConfiguration.TIMELINE_SERVICE_ENABLED, false);
    rm.setInt(YarnConfiguration.RM_SCHEDULER_MINIMUM_ALLOCATION_MB, 128);
    write(rm, "yarn-site.xml");
    File rmDir = new File(home, "conf-rm0");
    rmDir.mkdirs();
    for (String name : new String[] {"core-site.xml", "hdfs-site.xml", "yarn-site.xml"}) {
      Files.copy(new File(confDir, name).toPath(), new File(rmDir, name).toPath(), StandardCopyOption.REPLACE_EXISTING);
    }

    Map<String, String> props = new LinkedHashMap<>();
    props.put("kerberos", "true");
    props.put("realm", realm);
    props.put("kdc", addr(kdc.getPort()));
    props.put("krb5_conf", krb5.getPath());
    props.put("user_principal", user + "@" + realm);
    props.put("user_keytab", userKeytab.getPath());
    props.put("services_keytab", services.getPath());
    props.put("namenode_rpc", addr(nnRpc));
    props.put("namenode_http", addr(nnHttp));
    props.put("resourcemanager_http", addr(rmHttp));
    announceReady(props, control);
  }

  /**
   * A krb5.conf for MIT Kerberos clients (kinit, Python's gssapi) and the other JVMs: TCP (Kerby's transport), and
   * host names taken as written, so {@code HTTP@127.0.0.1} means {@code HTTP/127.0.0.1@REALM}.
   */
  private static String clientKrb5Conf(String realm, int port) {
    return "[libdefaults]\n"
        + "  default_realm = " + realm + "\n"
        + "  udp_preference_limit = 1\n"
        + "  dns_lookup_kdc = false\n"
        + "  dns_lookup_realm = false\n"
        + "  dns_canonicalize_hostname = false\n"
        + "  rdns = false\n"
        + "  ignore_acceptor_hostname = true\n"
        + "  forwardable = true\n"
        + "[realms]\n"
        + "  " + realm + " = {\n"
        + "    kdc = " + addr(port) + "\n"
        + "  }\n"
        + "[domain_realm]\n"
        + "  localhost = " + realm + "\n"
        + "  " + HOST + " = " + realm + "\n";
  }

  private static void merge(Configuration into, Configuration... parts) {
    for (Configuration part : parts) {
      for (Map.Entry<String, String> entry : part) {
        into.set(entry.getKey(), entry.getValue());
      }
    }
  }

  private void write(Configuration conf, String name) throws IOException {
    write(conf, new File(confDir, name));
  }

  private static void write(Configuration conf, File file) throws IOException {
    File tmp = new File(file.getPath() + ".tmp");
    try (OutputStream out = new FileOutputStream(tmp)) {
      conf.writeXml(out);
    }
    Files.move(tmp.toPath(), file.toPath(), StandardCopyOption.REPLACE_EXISTING);
  }

  private static void writeAtomically(File file, String text) throws IOException {
    File tmp = new File(file.getPath() + ".tmp");
    Files.writeString(tmp.toPath(), text);
    Files.move(tmp.toPath(), file.toPath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

  private static void log(String message) {
    System.err.println("LocalHadoop: " + message);
    System.err.flush();
  }
}
