// veche_sandbox_serve answers sandbox requests read from in, writing the
// replies to out, until in ends (0) or fails (1).
int veche_sandbox_serve(int in, int out);
