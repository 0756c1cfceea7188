! mpinit for Fortran: a module over the C API (ISO_C_BINDING). The communicator is an integer
! handle (an mpi module communicator, or mpi_f08's comm%MPI_VAL); MPI must be initialized.
!
!   use mpinit
!   type(mpinit_session) :: s
!   type(mpinit_config) :: config            ! every setting unset
!   config%gpu_policy = MPINIT_GPU_SPLIT
!   if (mpinit_launch(MPI_COMM_WORLD, s, config, seed='7') /= MPINIT_SUCCESS) print *, mpinit_last_error()
!   print *, mpinit_rank(s), mpinit_size(s), mpinit_host(s)
!   call mpinit_destroy(s)
module mpinit
  use, intrinsic :: iso_c_binding
  implicit none
  private

  integer, parameter, public :: MPINIT_SUCCESS = 0, MPINIT_ERR_INVALID_ENVIRONMENT = 1, &
      MPINIT_ERR_INVALID_SETTING = 2, MPINIT_ERR_MPI = 3, MPINIT_ERR_MISMATCH = 4, MPINIT_ERR_NOT_BUILT = 5, &
      MPINIT_ERR_NCCL = 6, MPINIT_ERR_INTERNAL = 7, MPINIT_ERR_INVALID_ARGUMENT = 8, MPINIT_ERR_SYSTEM = 9, &
      MPINIT_ERR_APPLICATION = 10

  ! The values of the config's fields, as mpinit.h names them.
  integer(c_int), parameter, public :: MPINIT_UNSET = -1, MPINIT_OFF = 0, MPINIT_ON = 1
  integer(c_int), parameter, public :: MPINIT_MODE_OWN = 0, MPINIT_MODE_ADOPT = 1, MPINIT_MODE_OWN_IF_NEEDED = 2, &
      MPINIT_MODE_ENV_ONLY = 3
  integer(c_int), parameter, public :: MPINIT_GPU_SPREAD = 0, MPINIT_GPU_EXCLUSIVE = 1, MPINIT_GPU_SPLIT = 2, &
      MPINIT_GPU_NONE = 3
  integer(c_int), parameter, public :: MPINIT_NCCL_OFF = 0, MPINIT_NCCL_LAZY = 1, MPINIT_NCCL_LAUNCH = 2
  integer(c_int), parameter, public :: MPINIT_LOG_NONE = 0, MPINIT_LOG_ERROR = 1, MPINIT_LOG_WARN = 2, &
      MPINIT_LOG_INFO = 3, MPINIT_LOG_DEBUG = 4, MPINIT_LOG_TRACE = 5
  integer(c_int), parameter, public :: MPINIT_THREAD_SINGLE = 0, MPINIT_THREAD_FUNNELED = 1, &
      MPINIT_THREAD_SERIALIZED = 2, MPINIT_THREAD_MULTIPLE = 3
  integer(c_int), parameter, public :: MPINIT_CHECK_OFF = 0, MPINIT_CHECK_WARN = 1, MPINIT_CHECK_ERROR = 2
  integer(c_int), parameter, public :: MPINIT_LOG_RANKS_ROOT = 0, MPINIT_LOG_RANKS_ALL = 1
  integer(c_int), parameter, public :: MPINIT_NET_OFF = 0, MPINIT_NET_MPI = 1, MPINIT_NET_ALL = 2
  integer(c_int), parameter, public :: MPINIT_PLACE_AUTO = 0, MPINIT_PLACE_BEFORE = 1, MPINIT_PLACE_AFTER = 2
  integer(c_int), parameter :: MPINIT_CONFIG_VERSION = 2, MPINIT_CONFIG_MAGIC = int(z'6d70696e', c_int)

  !> Explicit settings: mpinit.h's mpinit_config_t, field for field, every setting unset to begin
  !> with. The strings (seed, topology, share_dir) are given to mpinit_launch as arguments.
  type, bind(C), public :: mpinit_config
    integer(c_int) :: struct_size = 0
    integer(c_int) :: mode = MPINIT_UNSET, placement = MPINIT_UNSET, bind = MPINIT_UNSET, &
        gpu_policy = MPINIT_UNSET, log_level = MPINIT_UNSET, nccl = MPINIT_UNSET, nccl_timeout_s = MPINIT_UNSET
    type(c_ptr) :: seed = c_null_ptr, topology = c_null_ptr
    integer(c_int) :: magic = MPINIT_CONFIG_MAGIC, version = MPINIT_CONFIG_VERSION
    integer(c_int) :: thread_level = MPINIT_UNSET, log_ranks = MPINIT_UNSET, check = MPINIT_UNSET, &
        membind = MPINIT_UNSET, oversubscribe = MPINIT_UNSET, export_net = MPINIT_UNSET, &
        nccl_ranks_per_root = MPINIT_UNSET, launch_timeout_s = MPINIT_UNSET, place = MPINIT_UNSET, &
        topology_share = MPINIT_UNSET, rebind = MPINIT_UNSET
    type(c_ptr) :: share_dir = c_null_ptr
  end type

  type, public :: mpinit_session
    type(c_ptr) :: handle = c_null_ptr
  end type

  public :: mpinit_launch, mpinit_destroy, mpinit_rank, mpinit_size, mpinit_local_rank, mpinit_local_size, &
      mpinit_node_rank, mpinit_node_count, mpinit_host, mpinit_comm, mpinit_gpu, mpinit_cpus, &
      mpinit_global_seed, mpinit_rank_seed, mpinit_last_error, mpinit_error_string

  interface
    integer(c_int) function c_launch_f(comm, config, session) bind(C, name="mpinit_launch_f")
      import :: c_int, c_ptr
      integer(c_int), value :: comm
      type(c_ptr), value :: config
      type(c_ptr) :: session
    end function
    subroutine c_destroy(s) bind(C, name="mpinit_session_destroy")
      import :: c_ptr
      type(c_ptr), value :: s
    end subroutine
    integer(c_int) function c_rank(s) bind(C, name="mpinit_rank")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_size(s) bind(C, name="mpinit_size")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_local_rank(s) bind(C, name="mpinit_local_rank")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_local_size(s) bind(C, name="mpinit_local_size")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_node_rank(s) bind(C, name="mpinit_node_rank")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_node_count(s) bind(C, name="mpinit_node_count")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_gpu(s) bind(C, name="mpinit_gpu")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int) function c_comm_f(s) bind(C, name="mpinit_comm_f")
      import :: c_int, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int64_t) function c_global_seed(s) bind(C, name="mpinit_global_seed")
      import :: c_int64_t, c_ptr
      type(c_ptr), value :: s
    end function
    integer(c_int64_t) function c_rank_seed(s) bind(C, name="mpinit_rank_seed")
      import :: c_int64_t, c_ptr
      type(c_ptr), value :: s
    end function
    type(c_ptr) function c_host(s) bind(C, name="mpinit_host")
      import :: c_ptr
      type(c_ptr), value :: s
    end function
    type(c_ptr) function c_cpus(s) bind(C, name="mpinit_cpus")
      import :: c_ptr
      type(c_ptr), value :: s
    end function
    type(c_ptr) function c_last_error() bind(C, name="mpinit_last_error")
      import :: c_ptr
    end function
    type(c_ptr) function c_error_string(r) bind(C, name="mpinit_error_string")
      import :: c_ptr, c_int
      integer(c_int), value :: r
    end function
    integer(c_size_t) function c_strlen(p) bind(C, name="strlen")
      import :: c_size_t, c_ptr
      type(c_ptr), value :: p
    end function
  end interface

contains

  ! A C string as a Fortran string.
  function from_c(p) result(s)
    type(c_ptr), intent(in) :: p
    character(len=:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: i, n
    n = int(c_strlen(p))
    allocate(character(len=n) :: s)
    call c_f_pointer(p, chars, [n])
    do i = 1, n
      s(i:i) = chars(i)
    end do
  end function

  !> Launch on `comm` (e.g. MPI_COMM_WORLD). Settings come from `config`, `seed` and `topology`
  !> where given, else from MPINIT_* variables. Returns MPINIT_SUCCESS or an error code;
  !> mpinit_last_error() says why (the same on every rank).
  integer function mpinit_launch(comm, session, config, seed, topology, share_dir) result(rc)
    integer, intent(in) :: comm
    type(mpinit_session), intent(out) :: session
    type(mpinit_config), intent(in), optional :: config
    character(len=*), intent(in), optional :: seed, topology, share_dir
    type(mpinit_config), target :: c
    character(kind=c_char), allocatable, target :: seed_c(:), topology_c(:), share_dir_c(:)
    if (present(config)) c = config
    c%struct_size = int(c_sizeof(c), c_int)
    if (present(seed)) then
      call to_c(seed, seed_c)
      c%seed = c_loc(seed_c)
    end if
    if (present(topology)) then
      call to_c(topology, topology_c)
      c%topology = c_loc(topology_c)
    end if
    if (present(share_dir)) then
      call to_c(share_dir, share_dir_c)
      c%share_dir = c_loc(share_dir_c)
    end if
    rc = int(c_launch_f(int(comm, c_int), c_loc(c), session%handle))
  end function

  ! A Fortran string as a NUL-terminated C string.
  subroutine to_c(s, chars)
    character(len=*), intent(in) :: s
    character(kind=c_char), allocatable, intent(out) :: chars(:)
    integer :: i
    allocate(chars(len(s) + 1))
    do i = 1, len(s)
      chars(i) = s(i:i)
    end do
    chars(len(s) + 1) = c_null_char
  end subroutine

  subroutine mpinit_destroy(session)
    type(mpinit_session), intent(inout) :: session
    call c_destroy(session%handle)
    session%handle = c_null_ptr
  end subroutine

  integer function mpinit_rank(s)
    type(mpinit_session), intent(in) :: s
    mpinit_rank = int(c_rank(s%handle))
  end function
  integer function mpinit_size(s)
    type(mpinit_session), intent(in) :: s
    mpinit_size = int(c_size(s%handle))
  end function
  integer function mpinit_local_rank(s)
    type(mpinit_session), intent(in) :: s
    mpinit_local_rank = int(c_local_rank(s%handle))
  end function
  integer function mpinit_local_size(s)
    type(mpinit_session), intent(in) :: s
    mpinit_local_size = int(c_local_size(s%handle))
  end function
  integer function mpinit_node_rank(s)
    type(mpinit_session), intent(in) :: s
    mpinit_node_rank = int(c_node_rank(s%handle))
  end function
  integer function mpinit_node_count(s)
    type(mpinit_session), intent(in) :: s
    mpinit_node_count = int(c_node_count(s%handle))
  end function
  !> The GPU's device ordinal, -1 for none.
  integer function mpinit_gpu(s)
    type(mpinit_session), intent(in) :: s
    mpinit_gpu = int(c_gpu(s%handle))
  end function
  !> The session's own communicator (a duplicate), as an integer handle.
  integer function mpinit_comm(s)
    type(mpinit_session), intent(in) :: s
    mpinit_comm = int(c_comm_f(s%handle))
  end function
  !> Seeds as 64-bit integers (the bits of the unsigned value).
  integer(c_int64_t) function mpinit_global_seed(s)
    type(mpinit_session), intent(in) :: s
    mpinit_global_seed = c_global_seed(s%handle)
  end function
  integer(c_int64_t) function mpinit_rank_seed(s)
    type(mpinit_session), intent(in) :: s
    mpinit_rank_seed = c_rank_seed(s%handle)
  end function
  function mpinit_host(s) result(h)
    type(mpinit_session), intent(in) :: s
    character(len=:), allocatable :: h
    h = from_c(c_host(s%handle))
  end function
  function mpinit_cpus(s) result(c)
    type(mpinit_session), intent(in) :: s
    character(len=:), allocatable :: c
    c = from_c(c_cpus(s%handle))
  end function
  function mpinit_last_error() result(m)
    character(len=:), allocatable :: m
    m = from_c(c_last_error())
  end function
  function mpinit_error_string(rc) result(m)
    integer, intent(in) :: rc
    character(len=:), allocatable :: m
    m = from_c(c_error_string(int(rc, c_int)))
  end function

end module mpinit
