/** The throwaway PostgreSQL cluster lives in dev/ (the relay bench starts one too). */
export * from '../../dev/postgres.js';
