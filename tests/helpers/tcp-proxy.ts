/** The round-robin TCP proxy lives in dev/ (the relay bench can use it too). */
export * from '../../dev/tcp-proxy.js';
