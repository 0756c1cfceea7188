! The Fortran module under real mpirun: launch on MPI_COMM_WORLD, identity matches MPI, the
! session's communicator works, seeds differ by rank; with "expect-error" as argument, the
! launch must fail (a bad MPINIT_* value is set by the test) with the same message everywhere.
program test_fortran
  use mpi
  use mpinit
  use, intrinsic :: iso_c_binding, only: c_int64_t
  implicit none
  type(mpinit_session) :: s
  integer :: ierr, rank, size, rc, total, failures, any_failed, cmp
  integer(c_int64_t) :: seed, other
  character(len=32) :: arg
  character(len=:), allocatable :: msg

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, size, ierr)
  failures = 0
  arg = ''
  if (command_argument_count() > 0) call get_command_argument(1, arg)

  rc = mpinit_launch(MPI_COMM_WORLD, s)
  if (trim(arg) == 'expect-error') then
    msg = mpinit_last_error()
    if (rc /= MPINIT_ERR_INVALID_SETTING) call fail('expected MPINIT_ERR_INVALID_SETTING')
    if (index(msg, "MPINIT_SEED='bogus' is not a seed") == 0) call fail('message: ' // msg)
    deallocate(msg)  ! gfortran keeps it on the stack: LeakSanitizer would report it at exit
  else
    if (rc /= MPINIT_SUCCESS) call fail('launch: ' // mpinit_error_string(rc) // ': ' // mpinit_last_error())
    if (mpinit_rank(s) /= rank) call fail('rank')
    if (mpinit_size(s) /= size) call fail('size')
    if (mpinit_node_count(s) /= 1 .or. mpinit_local_size(s) /= size) call fail('one node')
    if (len(mpinit_host(s)) == 0) call fail('host')
    if (len(mpinit_cpus(s)) == 0) call fail('cpus')
    call MPI_Comm_compare(mpinit_comm(s), MPI_COMM_WORLD, cmp, ierr)
    if (cmp /= MPI_CONGRUENT) call fail('comm is not a duplicate of the world')
    call MPI_Allreduce(rank, total, 1, MPI_INTEGER, MPI_SUM, mpinit_comm(s), ierr)
    if (total /= size * (size - 1) / 2) call fail('allreduce on the session communicator')
    seed = mpinit_rank_seed(s)
    other = seed
    call MPI_Bcast(other, 1, MPI_INTEGER8, 0, MPI_COMM_WORLD, ierr)
    if (rank /= 0 .and. other == seed) call fail('rank seed equals rank 0''s')
    call mpinit_destroy(s)
    call with_config()
  end if

  call MPI_Allreduce(failures, any_failed, 1, MPI_INTEGER, MPI_SUM, MPI_COMM_WORLD, ierr)
  if (rank == 0) print '(a,i0,a)', 'Fortran: ', any_failed, ' failure(s)'
  call MPI_Finalize(ierr)
  if (any_failed /= 0) stop 1

contains
  ! Settings through the config type: every field reaches the library, under its own name.
  subroutine with_config()
    type(mpinit_config) :: config
    type(mpinit_session) :: t
    config%gpu_policy = MPINIT_GPU_NONE
    config%launch_timeout_s = 60
    config%check = MPINIT_CHECK_WARN
    rc = mpinit_launch(MPI_COMM_WORLD, t, config, seed='99')
    if (rc /= MPINIT_SUCCESS) call fail('launch with a config: ' // mpinit_last_error())
    if (rc == MPINIT_SUCCESS) then
      if (mpinit_global_seed(t) /= 99) call fail('seed from the config')
      call mpinit_destroy(t)
    end if
    config%nccl_ranks_per_root = 0
    rc = mpinit_launch(MPI_COMM_WORLD, t, config)
    msg = mpinit_last_error()
    if (rc /= MPINIT_ERR_INVALID_SETTING) call fail('a bad config field must fail')
    if (index(msg, "mpinit_config_t.nccl_ranks_per_root='0'") == 0) call fail('message: ' // msg)
    deallocate(msg)
    rc = mpinit_launch(MPI_COMM_WORLD, t, seed='lucky')
    msg = mpinit_last_error()
    if (index(msg, "mpinit_config_t.seed='lucky'") == 0) call fail('seed message: ' // msg)
    deallocate(msg)
  end subroutine

  subroutine fail(what)
    character(len=*), intent(in) :: what
    print '(a,i0,a,a)', '[rank ', rank, '] ', what
    failures = failures + 1
  end subroutine
end program
