package iouring

import "unsafe"

// Where the operations a client chains to open a socket keep their
// arguments in an SQE (the unions of include/uapi/linux/io_uring.h): the
// socket is created straight into a registered-file slot, and every later
// request names it by that slot (SqeFixedFile), so it never takes an fd.

// PrepSocketDirect makes s create a socket in registered-file slot slot.
func (s *SQE) PrepSocketDirect(domain, typ, proto int, slot uint32) {
	s.Opcode, s.Fd, s.Off, s.Len = OpSocket, int32(domain), uint64(typ), uint32(proto)
	s.FileIndex = slot + 1 // 0 would mean an ordinary fd
}

// PrepSetsockopt makes s set an integer-sized socket option on the socket
// in slot (SOCKET_URING_OP_SETSOCKOPT, Linux 6.7). val must stay put
// until the request has run.
func (s *SQE) PrepSetsockopt(slot uint32, level, name uint32, val unsafe.Pointer, size uint32) {
	s.Opcode, s.Fd, s.Flags = OpUringCmd, int32(slot), s.Flags|SqeFixedFile
	s.Off = socketUringOpSetsockopt           // cmd_op (the low half of off)
	s.Addr = uint64(level) | uint64(name)<<32 // level, optname
	s.FileIndex = size                        // optlen
	s.Addr3 = uint64(uintptr(val))            // optval
}

// PrepBind makes s bind the socket in slot to the sockaddr at sa.
func (s *SQE) PrepBind(slot uint32, sa unsafe.Pointer, size uint32) {
	s.Opcode, s.Fd, s.Flags = OpBind, int32(slot), s.Flags|SqeFixedFile
	s.Addr, s.Off = uint64(uintptr(sa)), uint64(size) // addr, addr2: the length
}

// PrepConnect makes s connect the socket in slot to the sockaddr at sa.
func (s *SQE) PrepConnect(slot uint32, sa unsafe.Pointer, size uint32) {
	s.Opcode, s.Fd, s.Flags = OpConnect, int32(slot), s.Flags|SqeFixedFile
	s.Addr, s.Off = uint64(uintptr(sa)), uint64(size)
}

// PrepCloseDirect makes s close the socket in slot and free the slot.
func (s *SQE) PrepCloseDirect(slot uint32) {
	s.Opcode, s.FileIndex = OpClose, slot+1
}
