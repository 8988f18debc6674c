/** The throwaway PostgreSQL cluster lives in bench/lib (the relay bench starts one too). */
export * from '../../bench/lib/postgres.js';
