/** The round-robin TCP proxy lives in bench/lib (the relay bench can use it too). */
export * from '../../bench/lib/tcp-proxy.js';
