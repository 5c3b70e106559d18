#include "gpu/vk_context.h"

#include <fmt/format.h>

#include <cstring>

namespace tessera::gpu {

namespace {

// An instance that owns itself until handed over.
struct Instance {
  VkInstance handle = VK_NULL_HANDLE;
  Instance() {
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.pApplicationName = "tessera";
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ci{};
    ci.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ci.pApplicationInfo = &app;
    vk_check(vkCreateInstance(&ci, nullptr, &handle), "vkCreateInstance");
  }
  ~Instance() {
    if (handle) vkDestroyInstance(handle, nullptr);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  VkInstance release() {
    VkInstance h = handle;
    handle = VK_NULL_HANDLE;
    return h;
  }
};

std::vector<VkPhysicalDevice> physical_devices(VkInstance inst) {
  uint32_t n = 0;
  vk_check(vkEnumeratePhysicalDevices(inst, &n, nullptr), "vkEnumeratePhysicalDevices");
  std::vector<VkPhysicalDevice> out(n);
  vk_check(vkEnumeratePhysicalDevices(inst, &n, out.data()), "vkEnumeratePhysicalDevices");
  out.resize(n);
  return out;
}

DeviceType type_of(VkPhysicalDeviceType t) {
  switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return DeviceType::discrete;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return DeviceType::integrated;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return DeviceType::virtual_gpu;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return DeviceType::cpu;
    default: return DeviceType::other;
  }
}

// The first queue family with compute; prefers one without graphics (a dedicated compute queue).
std::optional<uint32_t> compute_family(VkPhysicalDevice pd, uint32_t* valid_bits) {
  uint32_t n = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, nullptr);
  std::vector<VkQueueFamilyProperties> fams(n);
  vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, fams.data());
  std::optional<uint32_t> any;
  for (uint32_t i = 0; i < n; ++i) {
    if (!(fams[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
    if (!(fams[i].queueFlags & VK_QUEUE_GRAPHICS_BIT)) {
      if (valid_bits) *valid_bits = fams[i].timestampValidBits;
      return i;
    }
    if (!any) {
      any = i;
      if (valid_bits) *valid_bits = fams[i].timestampValidBits;
    }
  }
  return any;
}

DeviceReport report_of(VkPhysicalDevice pd) {
  DeviceReport r;
  VkPhysicalDeviceProperties p{};
  vkGetPhysicalDeviceProperties(pd, &p);
  r.info.name = p.deviceName;
  r.info.type = type_of(p.deviceType);
  r.info.api_version = p.apiVersion;
  r.vendor_id = p.vendorID;
  r.device_id = p.deviceID;
  r.timestamp_period_ns = p.limits.timestampPeriod;
  r.info.has_compute_queue = compute_family(pd, &r.timestamp_valid_bits).has_value();
  if (!p.limits.timestampComputeAndGraphics) r.timestamp_valid_bits = 0;
  // Driver name and version: core in Vulkan 1.2.
  if (p.apiVersion >= VK_API_VERSION_1_2) {
    VkPhysicalDeviceDriverProperties drv{};
    drv.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES;
    VkPhysicalDeviceProperties2 p2{};
    p2.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2;
    p2.pNext = &drv;
    vkGetPhysicalDeviceProperties2(pd, &p2);
    r.driver = fmt::format("{}: {}", drv.driverName, drv.driverInfo);
  } else {
    r.driver = fmt::format("driver version 0x{:x}", p.driverVersion);
  }
  VkPhysicalDeviceMemoryProperties mem{};
  vkGetPhysicalDeviceMemoryProperties(pd, &mem);
  for (uint32_t i = 0; i < mem.memoryHeapCount; ++i)
    if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) r.device_local_bytes += mem.memoryHeaps[i].size;
  return r;
}

}  // namespace

std::vector<DeviceReport> list_devices() {
  Instance inst;
  std::vector<DeviceReport> out;
  for (VkPhysicalDevice pd : physical_devices(inst.handle)) out.push_back(report_of(pd));
  return out;
}

std::shared_ptr<VulkanContext> VulkanContext::create(GpuChoice choice, std::string& reason) {
  if (choice.mode == GpuMode::off) {
    reason = "GPU path off (--gpu off)";
    return nullptr;
  }
  try {
    Instance inst;
    std::vector<VkPhysicalDevice> pds = physical_devices(inst.handle);
    std::vector<DeviceReport> reports;
    std::vector<DeviceInfo> infos;
    for (VkPhysicalDevice pd : pds) {
      reports.push_back(report_of(pd));
      infos.push_back(reports.back().info);
    }
    DeviceSelection sel = select_device(infos, choice);
    reason = sel.reason;
    if (!sel.device) return nullptr;

    std::shared_ptr<VulkanContext> ctx(new VulkanContext);
    ctx->index_ = *sel.device;
    ctx->physical_ = pds[*sel.device];
    ctx->report_ = reports[*sel.device];
    ctx->family_ = *compute_family(ctx->physical_, nullptr);
    VkPhysicalDeviceProperties p{};
    vkGetPhysicalDeviceProperties(ctx->physical_, &p);
    ctx->max_push_ = p.limits.maxPushConstantsSize;
    vkGetPhysicalDeviceMemoryProperties(ctx->physical_, &ctx->mem_);

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueFamilyIndex = ctx->family_;
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    vk_check(vkCreateDevice(ctx->physical_, &dci, nullptr, &ctx->device_), "vkCreateDevice");
    ctx->instance_ = inst.release();  // owned by ctx from here (its destructor frees the device first)
    vkGetDeviceQueue(ctx->device_, ctx->family_, 0, &ctx->queue_);
    return ctx;
  } catch (const std::exception& e) {
    reason = e.what();
    return nullptr;
  }
}

VulkanContext::~VulkanContext() {
  if (device_) {
    vkDeviceWaitIdle(device_);
    vkDestroyDevice(device_, nullptr);
  }
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

uint32_t VulkanContext::memory_type(uint32_t type_bits, VkMemoryPropertyFlags want) const {
  for (uint32_t i = 0; i < mem_.memoryTypeCount; ++i)
    if ((type_bits & (1u << i)) && (mem_.memoryTypes[i].propertyFlags & want) == want) return i;
  throw GpuError(fmt::format("no Vulkan memory type with properties 0x{:x}", unsigned(want)));
}

std::string VulkanContext::description() const {
  return fmt::format("{} ({}, Vulkan {}, {})", report_.info.name, to_string(report_.info.type),
                     api_version_string(report_.info.api_version), report_.driver);
}

}  // namespace tessera::gpu
