/* Preloaded in the sanitizer build's test runs only: makes dlclose() a no-op so that Open MPI's
 * components stay mapped until exit, and LeakSanitizer can name them in the stacks it reports
 * (lsan.supp matches Open MPI's leaks by those names). */
int dlclose(void* handle) {
  (void)handle;
  return 0;
}
