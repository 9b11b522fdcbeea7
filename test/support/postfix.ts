/**
 * A throwaway Postfix 3.7 for tests: its own config dir, queue and data dirs and log file in one temp dir, chroot
 * off, SMTP listeners on free loopback ports (each with its own `smtpd_milters`), relaying everything to a private
 * `smtp-sink -d` that writes each delivered message to a file (or discarding it). Needs root, as Postfix does.
 * After docs ../shared/lab/postfix (REPORT.md §5): errors only on a tty, maillog_file under maillog_file_prefixes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, requireBinary, talk, tempDir, waitUntil, alive } from './daemons.js';

export interface PostfixListener {
  /** Key in `ports`. */
  name: string;
  /** `smtpd_milters` for this listener (`inet:127.0.0.1:11332`, `unix:/path`), or null for none. */
  milters: string | null;
}

export interface PostfixOptions {
  listeners: PostfixListener[];
  /** `sink` (default): relay to smtp-sink, files readable through `delivered()`; `discard`: drop after queueing. */
  deliver?: 'sink' | 'discard';
  /** Extra or replaced main.cf settings. */
  main?: Record<string, string>;
}

export interface DeliveredMessage {
  file: string;
  /** As smtp-sink wrote it: its X-Client-*, X-Mail-Args and X-Rcpt-Args lines, then the message. */
  content: string;
}

export interface QueueEntry {
  queue_name: string;
  queue_id: string;
  sender: string;
  recipients: { address: string; delay_reason?: string }[];
}

export interface PostfixInstance {
  dir: string;
  configDir: string;
  ports: Record<string, number>;
  /** Postfix's log (postlogd). */
  maillog(): string;
  delivered(): DeliveredMessage[];
  /** Resolves with the first delivered message `match` accepts. */
  waitForDelivery(match: (content: string) => boolean, timeoutMs?: number): Promise<DeliveredMessage>;
  /** `postqueue -j`: what is still queued (active, deferred, hold). */
  queue(): QueueEntry[];
  /** The master process's pid; smtpd, cleanup, qmgr … are its children. */
  masterPid(): number;
  stop(): Promise<void>;
}

function postfixCmd(configDir: string, ...args: string[]): { status: number | null; out: string } {
  // Postfix prints its errors only to a tty; `script` gives it one.
  const r = spawnSync('script', ['-qec', ['postfix', '-c', configDir, ...args].join(' '), '/dev/null'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

function read(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function masterCf(listeners: PostfixListener[], ports: Record<string, number>): string {
  const smtpd = listeners.map(
    (l) => `127.0.0.1:${ports[l.name]} inet n - n - - smtpd\n  -o smtpd_milters=${l.milters ?? ''}`,
  );
  const unix = [
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'proxywrite unix - - n - 1 proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return `${[...smtpd, ...unix].join('\n')}\n`;
}

/** Starts Postfix (and smtp-sink); resolves once every listener answers 220. */
export async function startPostfix(options: PostfixOptions): Promise<PostfixInstance> {
  requireBinary('postfix', 'postfix');
  if (process.getuid?.() !== 0)
    throw new Error('the Postfix tests need root (the Postfix master runs as root)');
  const dir = tempDir('postfix');
  // Postfix daemons drop to the postfix user: they must be able to walk into the temp dir.
  chmodSync(dir, 0o755);
  const configDir = join(dir, 'etc');
  const spool = join(dir, 'spool');
  const data = join(dir, 'data');
  const sinkDir = join(dir, 'sink');
  for (const d of [configDir, spool, data, sinkDir]) mkdirSync(d);
  spawnSync('chown', ['postfix', data, sinkDir]);

  const ports: Record<string, number> = {};
  for (const l of options.listeners) ports[l.name] = await freePort();
  const deliver = options.deliver ?? 'sink';
  let sink: ChildProcess | undefined;
  let transport = 'discard:test-discard';
  if (deliver === 'sink') {
    requireBinary('smtp-sink', 'postfix');
    const sinkPort = await freePort();
    sink = spawn(
      'smtp-sink',
      [
        '-u',
        'postfix',
        '-h',
        'sink.test.invalid',
        '-d',
        join(sinkDir, '%Y%m%d%H%M%S.'),
        `127.0.0.1:${sinkPort}`,
        '100',
      ],
      { stdio: 'ignore' },
    );
    await waitUntil(
      async () => (await talk({ port: sinkPort }, '', /^220/)).startsWith('220'),
      10_000,
      'smtp-sink',
    );
    transport = `smtp:[127.0.0.1]:${sinkPort}`;
  }
  const main: Record<string, string> = {
    compatibility_level: '3.6',
    queue_directory: spool,
    data_directory: data,
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    maillog_file_prefixes: dir,
    maillog_file: join(dir, 'maillog'),
    myhostname: 'mx.test.invalid',
    mydomain: 'test.invalid',
    myorigin: '$myhostname',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    mydestination: '',
    local_recipient_maps: '',
    alias_maps: '',
    alias_database: '',
    smtp_dns_support_level: 'disabled',
    mynetworks: '127.0.0.0/8',
    smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
    smtpd_recipient_restrictions: 'permit_mynetworks, reject',
    message_size_limit: '52428800',
    default_transport: transport,
    relay_transport: transport,
    local_transport: transport,
    virtual_transport: transport,
    smtp_tls_security_level: 'none',
    smtpd_milters: '',
    non_smtpd_milters: '',
    milter_protocol: '6',
    milter_default_action: 'tempfail',
    milter_connect_timeout: '10s',
    milter_command_timeout: '30s',
    milter_content_timeout: '300s',
    biff: 'no',
    append_dot_mydomain: 'no',
    smtpd_banner: '$myhostname ESMTP test',
    // Many test connections from one address in a short time.
    smtpd_client_connection_count_limit: '0',
    smtpd_client_connection_rate_limit: '0',
    ...options.main,
  };
  writeFileSync(
    join(configDir, 'main.cf'),
    Object.entries(main)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n') + '\n',
  );
  writeFileSync(join(configDir, 'master.cf'), masterCf(options.listeners, ports));

  const cleanup = async () => {
    if (existsSync(join(spool, 'pid', 'master.pid'))) {
      const pid = Number(read(join(spool, 'pid', 'master.pid')).trim());
      postfixCmd(configDir, 'stop');
      await waitUntil(() => !alive(pid), 20_000, `postfix master ${pid} exit`).catch(() => {
        if (alive(pid)) process.kill(pid, 'SIGKILL');
      });
    }
    if (sink && sink.exitCode === null && sink.signalCode === null) {
      const exited = new Promise<void>((resolve) => sink!.once('exit', () => resolve()));
      sink.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const started = postfixCmd(configDir, 'start');
  try {
    if (started.status !== 0)
      throw new Error(
        `postfix start failed (${started.status}):\n${started.out}\n${read(join(dir, 'maillog')).slice(-3000)}`,
      );
    for (const port of Object.values(ports)) {
      await waitUntil(() => banner(port), 30_000, `postfix smtpd on ${port}`);
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  const delivered = (): DeliveredMessage[] =>
    readdirSync(sinkDir)
      .sort()
      .map((f) => ({ file: join(sinkDir, f), content: read(join(sinkDir, f)) }));
  return {
    dir,
    configDir,
    ports,
    maillog: () => read(join(dir, 'maillog')),
    delivered,
    async waitForDelivery(match, timeoutMs = 20_000) {
      let found: DeliveredMessage | undefined;
      await waitUntil(
        () => {
          // smtp-sink writes as the data arrives: match on something at the end of the message (its last line).
          found = delivered().find((m) => match(m.content));
          return found !== undefined;
        },
        timeoutMs,
        'delivery to smtp-sink',
      );
      return found!;
    },
    queue() {
      const r = spawnSync('postqueue', ['-c', configDir, '-j'], { encoding: 'utf8' });
      return (r.stdout ?? '')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as QueueEntry);
    },
    masterPid: () => Number(read(join(spool, 'pid', 'master.pid')).trim()),
    stop: cleanup,
  };
}

/** Connects, waits for the 220 banner, then says QUIT (sending before the banner is improper pipelining). */
function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let got = '';
    sock.setTimeout(5000, () => sock.destroy());
    sock.on('data', (b) => {
      got += b.toString('latin1');
      if (/^220[ -][^\n]*\n/.test(got)) sock.end('QUIT\r\n');
    });
    sock.on('error', () => undefined);
    sock.on('close', () => resolve(got.startsWith('220')));
  });
}
