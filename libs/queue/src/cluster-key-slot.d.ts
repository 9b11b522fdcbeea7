// cluster-key-slot ships no types: the CRC16 slot of a key, honouring a `{hash tag}`, as Redis Cluster computes it.
declare module 'cluster-key-slot' {
  function generate(key: string | Buffer): number;
  export default generate;
}
